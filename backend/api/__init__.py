"""HTTP routes (the only code that imports FastAPI)."""
