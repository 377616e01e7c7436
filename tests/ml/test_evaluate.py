"""Evaluation at full, odd resolutions, flip TTA, mapped "before" predictions, exact metrics."""

import numpy as np
import pytest
import torch
from torch import nn

from worker.ml import metrics
from worker.ml.classmap import map_labels
from worker.ml.data import Sample, normalize
from worker.ml.evaluate import evaluate, overlay, predict_logits
from worker.ml.models import build_model

from .conftest import TINY, synthetic_samples

MEAN, STD = [0.485, 0.456, 0.406], [0.229, 0.224, 0.225]


class ColourOracle(nn.Module):
    """Logits from the raw colour: red-dominant -> 1, blue-dominant -> 2, else 0."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        rgb = x * torch.tensor(STD).view(1, 3, 1, 1) + torch.tensor(MEAN).view(1, 3, 1, 1)
        r, g, b = rgb[:, 0], rgb[:, 1], rgb[:, 2]
        return torch.stack([torch.full_like(r, 0.3), r - g - b, b - r - g], dim=1)


def test_odd_full_resolution_predictions_match_the_frame() -> None:
    torch.manual_seed(0)
    model = build_model("deeplabv3plus_mobilenet", 3, 16, **TINY)
    rng = np.random.default_rng(0)
    frames = [
        Sample(
            rng.integers(0, 255, (h, w, 3), dtype=np.uint8),
            rng.integers(0, 3, (h, w), dtype=np.uint8),
            f"f{h}x{w}",
        )
        for h, w in [(1080, 1920), (121, 173), (37, 61)]
    ]
    result = evaluate(model, frames, 3, mean=MEAN, std=STD, device="cpu")
    assert [p.shape for p in result.predictions] == [(1080, 1920), (121, 173), (37, 61)]
    assert all(p.dtype == np.uint8 for p in result.predictions)
    assert result.names == ["f1080x1920", "f121x173", "f37x61"]
    np.testing.assert_array_equal(result.confusion, sum(result.frame_confusions))
    assert result.confusion.sum() == sum(s.mask.size for s in frames)


def test_metrics_are_exact_for_a_known_model() -> None:
    # Clean colours, so the oracle is right on every labelled pixel; the rim stays random.
    palette = np.array([[120, 120, 120], [220, 20, 20], [20, 20, 220]], np.uint8)
    frames = []
    for s in synthetic_samples(3, 67, 101, seed=4):
        image = np.where((s.mask != 255)[..., None], palette[s.mask % 3], s.image)
        frames.append(Sample(image.astype(np.uint8), s.mask, s.name))
    result = evaluate(
        ColourOracle(),
        frames,
        3,
        mean=MEAN,
        std=STD,
        device="cpu",
        class_names=["bg", "red", "blue"],
    )
    labelled = sum(int((s.mask != 255).sum()) for s in frames)
    assert result.confusion.sum() == labelled
    assert result.metrics["pixel_accuracy"] == 1.0
    assert result.metrics["mean_iou"] == 1.0
    assert [c["name"] for c in result.metrics["per_class"]] == ["bg", "red", "blue"]
    for sample, pred in zip(frames, result.predictions, strict=True):
        labelled_px = sample.mask != 255
        np.testing.assert_array_equal(pred[labelled_px], sample.mask[labelled_px])


def test_flip_tta_averages_the_mirrored_logits() -> None:
    torch.manual_seed(1)
    model = build_model("deeplabv3plus_mobilenet", 3, 16, **TINY).eval()
    image = np.random.default_rng(1).integers(0, 255, (45, 77, 3), dtype=np.uint8)
    device = torch.device("cpu")
    tta = predict_logits(model, image, MEAN, STD, device, flip_tta=True)
    x = normalize(image, MEAN, STD)[None]
    with torch.inference_mode():
        expected = (model(x)[0] + model(x.flip(-1))[0].flip(-1)) / 2
    torch.testing.assert_close(tta, expected, rtol=1e-4, atol=1e-5)
    plain = predict_logits(model, image, MEAN, STD, device)
    assert not torch.allclose(tta, plain)


def test_base_model_predictions_are_mapped() -> None:
    torch.manual_seed(2)
    base = build_model("deeplabv3plus_mobilenet", 6, 16, **TINY).eval()
    frames = synthetic_samples(2, 50, 70)
    table = [0, 1, 0, 2, 2, 0]
    raw = evaluate(base, frames, 6, mean=MEAN, std=STD, device="cpu")
    mapped = evaluate(base, frames, 3, mean=MEAN, std=STD, device="cpu", class_map=table)
    for r, m in zip(raw.predictions, mapped.predictions, strict=True):
        np.testing.assert_array_equal(m, map_labels(r, table))
    expected = sum(
        metrics.confusion_matrix(s.mask, p, 3)
        for s, p in zip(frames, mapped.predictions, strict=True)
    )
    np.testing.assert_array_equal(mapped.confusion, expected)


def test_cancel_and_overlay() -> None:
    frames = synthetic_samples(3, 20, 30)
    seen = []

    def stop_after_two(done: int, total: int) -> None:
        seen.append((done, total))
        if done == 2:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        evaluate(
            ColourOracle(), frames, 3, mean=MEAN, std=STD, device="cpu", on_frame=stop_after_two
        )
    assert seen == [(1, 3), (2, 3)]
    image = np.full((400, 1000, 3), 200, np.uint8)
    pred = np.ones((400, 1000), np.uint8)
    small = overlay(image, pred, [[0, 0, 0], [0, 0, 100]], alpha=0.5, max_side=500)
    assert small.shape == (200, 500, 3)
    assert small[0, 0].tolist() == [100, 100, 150]
