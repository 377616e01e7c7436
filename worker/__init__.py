"""SegTune worker: Celery tasks and the ML engine (the only code that imports Celery or torch)."""
