# GPU worker image: CUDA PyTorch plus SegTune's engine; takes the `gpu` queue.
FROM nvidia/cuda:12.8.1-cudnn-runtime-ubuntu24.04
ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 PIP_NO_CACHE_DIR=1 \
    PIP_BREAK_SYSTEM_PACKAGES=1 DEBIAN_FRONTEND=noninteractive
RUN apt-get update \
    && apt-get install -y --no-install-recommends python3 python3-pip \
    && rm -rf /var/lib/apt/lists/*
WORKDIR /app
# The CUDA build of the pinned torch version comes from PyTorch's own index.
RUN pip install torch==2.13.0 --index-url https://download.pytorch.org/whl/cu128
COPY pyproject.toml README.md ./
COPY backend backend
COPY worker worker
COPY frontend frontend
COPY migrations migrations
RUN pip install ".[ml]"
ENV SEGTUNE_DATA_DIR=/data
CMD ["segtune", "worker", "--queues", "gpu", "--concurrency", "1"]
