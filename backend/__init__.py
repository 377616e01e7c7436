"""SegTune web backend: settings, database, domain services and HTTP routes."""
