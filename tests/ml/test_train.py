"""fit(): learns, reports, checkpoints, and resumes to exactly the uninterrupted result."""

from dataclasses import replace

import numpy as np
import pytest
import torch

from worker.ml.checkpoints import ModelMeta, load_checkpoint, load_model, save_checkpoint
from worker.ml.classmap import DEFAULT_PROJECT_CLASSES
from worker.ml.data import TrainData
from worker.ml.evaluate import evaluate
from worker.ml.models import build_model
from worker.ml.train import Progress, TrainConfig, fit

from .conftest import TINY, synthetic_samples


class Cancelled(Exception):
    pass


def test_loss_goes_down_on_a_learnable_task(tmp_path) -> None:
    data = TrainData(train=synthetic_samples(8, seed=0), val=synthetic_samples(2, seed=1))
    config = TrainConfig(
        output_dir=str(tmp_path),
        model_kwargs=dict(TINY),
        batch_size=4,
        iterations=40,
        crop_size=64,
        lr=0.05,
        val_every=20,
        checkpoint_every=100,
        device="cpu",
        amp="off",
        seed=1,
        num_threads=1,
        overlay_max_side=0,
    )
    reports: list[Progress] = []
    result = fit(config, data, reports.append)
    losses = [p.train_loss for p in reports if p.train_loss is not None]
    assert len(losses) == 40
    assert np.mean(losses[-5:]) < 0.5 * np.mean(losses[:5])
    vals = [p.val_miou for p in reports if p.val_miou is not None]
    assert [p.iteration for p in reports if p.val_miou is not None] == [0, 20, 40]
    assert vals[-1] > vals[0] + 0.2
    assert result.best_val_miou == max(vals)
    assert result.latest_checkpoint.exists()


def _grouped_base(tmp_path) -> tuple[str, list[int]]:
    """A tiny 5-class base model file in the public layout and a map onto 3 project classes."""
    torch.manual_seed(3)
    base = build_model("deeplabv3plus_mobilenet", 5, 16, **TINY)
    sources = [{"index": i, "name": f"s{i}", "color": [0, 0, 0]} for i in range(5)]
    meta = ModelMeta("deeplabv3plus_mobilenet", 16, sources, model_kwargs=dict(TINY))
    path = save_checkpoint(tmp_path / "base.pt", base, meta)
    return str(path), [0, 1, 0, 2, 0]


def test_resume_after_interruption_equals_uninterrupted_run(tmp_path) -> None:
    base, table = _grouped_base(tmp_path)
    data = TrainData(train=synthetic_samples(5, seed=0), val=synthetic_samples(2, seed=1))
    config = TrainConfig(
        output_dir=str(tmp_path / "full"),
        base_checkpoint=base,
        class_map=table,
        batch_size=2,
        iterations=6,
        crop_size=48,
        checkpoint_every=2,
        device="cpu",
        seed=5,
        num_threads=1,
    )
    full: list[Progress] = []
    result = fit(config, data, full.append)

    # Progress: iteration 0 (before training) then every iteration, with overlays and ETA.
    assert [p.iteration for p in full] == list(range(7))
    assert all(p.total == 6 for p in full)
    assert full[0].train_loss is None and full[0].eta_seconds is None
    assert all(p.eta_seconds >= 0 and p.train_loss > 0 for p in full[1:])
    assert full[-1].eta_seconds == 0
    names, pictures = zip(*full[3].overlays, strict=True)
    assert names == ("frame00", "frame01") and pictures[0].shape == (64, 96, 3)
    assert [p.lr for p in full[1:]] == pytest.approx([0.01 * (1 - i / 6) ** 0.9 for i in range(6)])

    # Step 0 validation is the mapped base model's "before" result, in float32 (validation never
    # runs in the training's bf16).
    base_model, _ = load_model(base)
    before = evaluate(
        base_model,
        data.val,
        3,
        mean=config_mean(),
        std=config_std(),
        class_map=table,
        device="cpu",
        amp="off",
    )
    assert full[0].val_metrics["confusion_matrix"] == before.confusion.tolist()

    # Best checkpoint: the best validation so far, with its metrics.
    best = max(full, key=lambda p: p.val_miou)
    assert result.best_iteration == best.iteration
    assert [p.iteration for p in full if p.is_best][-1] == best.iteration
    best_ckpt = load_checkpoint(result.best_checkpoint)
    assert best_ckpt.meta.metrics["iteration"] == best.iteration
    assert best_ckpt.meta.class_map == table and best_ckpt.meta.classes == DEFAULT_PROJECT_CLASSES

    # Interrupt: on_progress raises at iteration 3 (latest checkpoint is from iteration 2).
    interrupted = replace(config, output_dir=str(tmp_path / "again"))

    def cancel_at_3(progress: Progress) -> None:
        if progress.iteration == 3:
            raise Cancelled

    with pytest.raises(Cancelled):
        fit(interrupted, data, cancel_at_3)
    assert load_checkpoint(tmp_path / "again" / "latest.pt").extra["iteration"] == 2

    resumed: list[Progress] = []
    again = fit(interrupted, data, resumed.append, resume_from=tmp_path / "again")
    assert [p.iteration for p in resumed] == [3, 4, 5, 6]

    a = load_checkpoint(result.latest_checkpoint)
    b = load_checkpoint(again.latest_checkpoint)
    assert a.state.keys() == b.state.keys()
    for key in a.state:
        assert torch.equal(a.state[key], b.state[key]), key
    assert [p.train_loss for p in full[3:]] == [p.train_loss for p in resumed]
    assert [p.val_miou for p in full[3:]] == [p.val_miou for p in resumed]
    assert [h["train_loss"] for h in again.history] == [p.train_loss for p in full]
    assert again.best_iteration == result.best_iteration


def config_mean() -> list[float]:
    return [0.485, 0.456, 0.406]


def config_std() -> list[float]:
    return [0.229, 0.224, 0.225]


def _states_equal(a, b) -> bool:
    sa, sb = load_checkpoint(a).state, load_checkpoint(b).state
    return sa.keys() == sb.keys() and all(torch.equal(sa[k], sb[k]) for k in sa)


def test_random_init_is_seeded_and_resume_refuses_a_different_recipe(tmp_path) -> None:
    data = TrainData(train=synthetic_samples(3), val=[])
    config = TrainConfig(
        output_dir=str(tmp_path / "a"),
        model_kwargs=dict(TINY),
        batch_size=2,
        iterations=2,
        crop_size=32,
        checkpoint_every=1,
        device="cpu",
        num_threads=1,
        amp="off",
    )
    result = fit(config, data, lambda p: None)
    assert result.best_checkpoint is None and result.best_iteration is None

    torch.manual_seed(123)  # whatever the process did before must not matter
    torch.rand(10)
    again = fit(replace(config, output_dir=str(tmp_path / "b")), data, lambda p: None)
    assert _states_equal(result.latest_checkpoint, again.latest_checkpoint)
    other = fit(replace(config, output_dir=str(tmp_path / "c"), seed=1), data, lambda p: None)
    assert not _states_equal(result.latest_checkpoint, other.latest_checkpoint)

    with pytest.raises(ValueError, match="seed"):
        fit(replace(config, seed=9), data, lambda p: None, resume_from=tmp_path / "a")


def test_rejects_unusable_settings(tmp_path) -> None:
    data = TrainData(train=synthetic_samples(2))
    with pytest.raises(ValueError, match="batch_size"):
        fit(TrainConfig(output_dir=str(tmp_path), batch_size=1), data, lambda p: None)
    with pytest.raises(ValueError, match="class map"):
        base, _ = _grouped_base(tmp_path)
        fit(
            TrainConfig(output_dir=str(tmp_path), base_checkpoint=base, class_map=[0, 1]),
            data,
            lambda p: None,
        )
