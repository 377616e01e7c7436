"""Shared helpers for the ML engine tests."""

import os
from pathlib import Path

import numpy as np
import pytest
import torch

REPO = Path(__file__).resolve().parents[2]


def shared_dir() -> Path:
    """Where ../shared lives: $SEGTUNE_SHARED_DIR or the folder beside the checkout."""
    return Path(os.environ.get("SEGTUNE_SHARED_DIR") or REPO.parent / "shared")


def require_shared(relative: str) -> Path:
    """Path under the shared folder; skip when absent unless SEGTUNE_REQUIRE_SHARED=1."""
    path = shared_dir() / relative
    if not path.exists():
        if os.environ.get("SEGTUNE_REQUIRE_SHARED") == "1":
            pytest.fail(f"{path} is missing and SEGTUNE_REQUIRE_SHARED=1")
        pytest.skip(f"{path} is absent")
    return path


def recipe_state(model: torch.nn.Module, fill_scale: float) -> dict[str, torch.Tensor]:
    """The reference's deterministic weights: sin(0.7 i + j) shaped per key kind."""
    state = {}
    for j, (name, ref) in enumerate(sorted(model.state_dict().items())):
        s = np.sin(0.7 * np.arange(ref.numel(), dtype=np.float64) + j)
        if not ref.is_floating_point():
            value = np.zeros(ref.numel())
        elif name.endswith("running_var"):
            value = 1 + 0.5 * s
        elif name.endswith(("running_mean", "bias")):
            value = 0.1 * s
        elif ref.dim() == 1:
            value = 0.5 + 0.2 * s
        else:
            value = s * np.sqrt(fill_scale / (ref.numel() // ref.shape[0]))
        state[name] = torch.from_numpy(value.reshape(ref.shape)).to(ref.dtype)
    return state


def recipe_input(shape: tuple[int, ...]) -> torch.Tensor:
    """The reference input: ((i mod 251) / 251 - 0.5) * 2, row-major float32."""
    i = np.arange(int(np.prod(shape)))
    return torch.from_numpy(((i % 251) / 251 - 0.5) * 2).float().reshape(shape)


@pytest.fixture(autouse=True)
def _one_thread():
    """One intra-op thread: tiny tensors gain nothing from more, and on a busy CI machine
    OpenMP barriers between preempted threads cost milliseconds per op."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


TINY = {"width_mult": 0.25, "channels": 32, "low_proj": 8}


def synthetic_samples(n: int, height: int = 64, width: int = 96, seed: int = 0) -> list:
    """Learnable frames: noisy grey background (0), red boxes (1), blue boxes (2), 255 rim."""
    from worker.ml.data import Sample

    rng = np.random.default_rng(seed)
    samples = []
    for i in range(n):
        image = rng.normal(110, 20, (height, width, 3)).clip(0, 255)
        mask = np.zeros((height, width), np.uint8)
        for cls, color in ((1, (200, 30, 30)), (2, (30, 40, 210))):
            for _ in range(2):
                h, w = rng.integers(8, height // 2), rng.integers(8, width // 3)
                y, x = rng.integers(0, height - h), rng.integers(0, width - w)
                image[y : y + h, x : x + w] = rng.normal(color, 15, (h, w, 3)).clip(0, 255)
                mask[y : y + h, x : x + w] = cls
        mask[:2] = 255
        samples.append(Sample(image.astype(np.uint8), mask, name=f"frame{i:02d}"))
    return samples
