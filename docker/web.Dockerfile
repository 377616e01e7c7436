# Web app and CPU worker image: no torch (the web process never imports it); OpenCV for the
# CPU worker's mask propagation.
FROM python:3.11-slim
ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 PIP_NO_CACHE_DIR=1
WORKDIR /app
COPY pyproject.toml README.md ./
COPY backend backend
COPY worker worker
COPY frontend frontend
COPY migrations migrations
RUN pip install ".[worker]"
ENV SEGTUNE_HOST=0.0.0.0 SEGTUNE_PORT=8000 SEGTUNE_DATA_DIR=/data
EXPOSE 8000
CMD ["segtune", "web"]
