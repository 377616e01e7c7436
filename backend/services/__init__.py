"""Domain services: plain functions over a session, storage and settings."""
