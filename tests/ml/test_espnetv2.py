"""ESPNetv2: EdgeNets layout and numbers, real Cityscapes weights, zero-shot on CamVid dusk."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from PIL import Image

from worker.ml.models.espnetv2 import (
    ARCHITECTURE,
    CITYSCAPES_VOID_CLASSES,
    CITYSCAPES_WEIGHT_FILES,
    IMAGENET_MEAN,
    IMAGENET_STD,
    WIDTH_SCALES,
    ESPNetv2Seg,
    build_espnetv2,
    pad_to_multiple,
)

from .conftest import recipe_input, recipe_state, require_shared

REFERENCE_MODELS = ("espnetv2_s2.0", "espnetv2_s1.0")
ZERO_SHOT_SIZE = (1024, 768)  # PIL (width, height) the reference protocol resizes frames to
CAMVID_SIZE = (360, 480)
# Cross-platform float differences may flip a handful of near-tie argmaxes, nothing more.
CONFUSION_ATOL_PIXELS = 10
# One frame per forward: larger batches cost more CPU time here (bigger buffers, page faults).
ZERO_SHOT_BATCH = 1


@pytest.fixture(scope="module")
def reference() -> dict:
    """The parsed ESPNetv2 reference.json (skip, or fail in CI, when ../shared is absent)."""
    return json.loads(require_shared("reference/espnetv2/reference.json").read_text())


def _real_model(scale: float) -> torch.nn.Module:
    """ESPNetv2 at `scale` with the public Cityscapes weights, in eval mode."""
    path = require_shared(f"data/weights/espnetv2_cityscapes/{CITYSCAPES_WEIGHT_FILES[scale]}")
    state = torch.load(path, map_location="cpu", weights_only=True)
    model = build_espnetv2(CITYSCAPES_VOID_CLASSES, scale)
    model.load_state_dict(state, strict=True)
    return model.eval()


@pytest.mark.parametrize("scale", WIDTH_SCALES)
def test_every_width_returns_full_resolution_logits(scale: float) -> None:
    """All widths build and return N x C x H x W logits, including sides not divisible by 16."""
    torch.manual_seed(0)
    model = build_espnetv2(num_classes=3, scale=scale).eval()
    with torch.inference_mode():
        out = model(torch.randn(2, 3, 37, 70))
    assert out.shape == (2, 3, 37, 70)
    assert torch.isfinite(out).all()


def test_unaligned_input_is_padded_and_cropped_not_resized() -> None:
    """An unaligned frame gives exactly the aligned network's logits on its padded copy, cropped."""
    torch.manual_seed(0)
    model = ESPNetv2Seg(num_classes=5, scale=0.5).eval()
    x = torch.randn(1, 3, 45, 83)
    with torch.inference_mode():
        out = model(x)
        padded = pad_to_multiple(x)
        expected = model.forward_aligned(padded)[..., :45, :83]
        aligned = torch.randn(1, 3, 48, 96)
        same = torch.equal(model(aligned), model.forward_aligned(aligned))
    assert padded.shape[-2:] == (48, 96)
    assert torch.equal(padded[..., :45, :83], x)
    assert torch.equal(out, expected)
    assert same
    assert pad_to_multiple(torch.randn(1, 3, 5, 7)).shape[-2:] == (16, 16)


def test_rejects_unknown_width_and_exposes_metadata() -> None:
    """Unsupported widths fail loudly; the metadata matches the public weights."""
    with pytest.raises(ValueError, match="width scale"):
        build_espnetv2(20, scale=0.75)
    assert ARCHITECTURE == "espnetv2"
    assert CITYSCAPES_VOID_CLASSES == 20
    assert IMAGENET_MEAN == (0.485, 0.456, 0.406) and IMAGENET_STD == (0.229, 0.224, 0.225)


@pytest.mark.parametrize("name", REFERENCE_MODELS)
def test_state_dict_layout_matches_reference(reference: dict, name: str) -> None:
    """Every key, shape and dtype, in order, as in the EdgeNets checkpoints."""
    ref = reference[name]
    model = build_espnetv2(ref["num_classes"], ref["width_scale"])
    got = [
        [k, list(v.shape), str(v.dtype).removeprefix("torch.")]
        for k, v in model.state_dict().items()
    ]
    assert got == ref["keys"]


@pytest.mark.parametrize("name", REFERENCE_MODELS)
def test_deterministic_logits_match_reference(reference: dict, name: str) -> None:
    """Logits for the deterministic weights and input match every probe within 5e-4 x std."""
    ref = reference[name]
    assert ref["architecture"] == ARCHITECTURE
    model = build_espnetv2(ref["num_classes"], ref["width_scale"])
    model.load_state_dict(recipe_state(model, ref["fill_scale"]), strict=True)
    with torch.inference_mode():
        out = model.eval()(recipe_input(tuple(ref["input_shape"])))
    assert list(out.shape) == ref["output_shape"]
    flat = out.flatten().double().numpy()
    probes = flat[np.asarray(ref["probe_indices"])]
    np.testing.assert_allclose(probes, ref["probe_values"], rtol=0, atol=5e-4 * ref["std"])
    assert flat.mean() == pytest.approx(ref["mean"], abs=5e-4 * ref["std"])
    assert flat.std() == pytest.approx(ref["std"], rel=1e-3)
    assert flat.min() == pytest.approx(ref["min"], abs=10 * 5e-4 * ref["std"])
    assert flat.max() == pytest.approx(ref["max"], abs=10 * 5e-4 * ref["std"])


@pytest.mark.parametrize("scale", sorted(CITYSCAPES_WEIGHT_FILES))
def test_real_cityscapes_weights_load_strictly(scale: float) -> None:
    """The public EdgeNets Cityscapes state dicts load with strict=True."""
    model = _real_model(scale)
    assert model.num_classes == CITYSCAPES_VOID_CLASSES


def _zero_shot_confusion(scale: float) -> np.ndarray:
    """Summed 3x3 confusion (rows = truth) of the real weights on the CamVid 0001TP frames."""
    model = _real_model(scale)
    require_shared("data/camvid/trainannot")
    frames = sorted(require_shared("data/camvid/train").glob("0001TP_*.png"))
    assert len(frames) == 62
    mean = np.asarray(IMAGENET_MEAN, np.float32)
    std = np.asarray(IMAGENET_STD, np.float32)
    # Cityscapes 13 car -> 1; 6 traffic light and 7 traffic sign -> 2; the rest -> background.
    pred_map = np.zeros(CITYSCAPES_VOID_CLASSES, np.int64)
    pred_map[13], pred_map[[6, 7]] = 1, 2
    # CamVid 8 car -> 1, 6 SignSymbol -> 2, 11 Unlabelled ignored (-1), the rest background.
    truth_map = np.zeros(256, np.int64)
    truth_map[8], truth_map[6], truth_map[11] = 1, 2, -1
    confusion = np.zeros((3, 3), np.int64)
    for start in range(0, len(frames), ZERO_SHOT_BATCH):
        batch = frames[start : start + ZERO_SHOT_BATCH]
        images = [
            np.asarray(
                Image.open(f).convert("RGB").resize(ZERO_SHOT_SIZE, Image.BILINEAR), np.float32
            )
            / 255.0
            for f in batch
        ]
        x = torch.from_numpy((np.stack(images) - mean) / std).permute(0, 3, 1, 2).contiguous()
        with torch.inference_mode():
            logits = F.interpolate(model(x), size=CAMVID_SIZE, mode="bilinear", align_corners=False)
            preds = pred_map[logits.argmax(1).numpy()]
        for frame, pred in zip(batch, preds, strict=True):
            label = Image.open(frame.parent.parent / "trainannot" / frame.name)
            truth = truth_map[np.asarray(label)]
            keep = truth >= 0
            confusion += np.bincount(truth[keep] * 3 + pred[keep], minlength=9).reshape(3, 3)
    return confusion


@pytest.mark.parametrize("name", REFERENCE_MODELS)
def test_zero_shot_camvid_dusk_confusion_matches_reference(reference: dict, name: str) -> None:
    """The real weights' zero-shot confusion on the 62 dusk frames reproduces the reference."""
    ref = reference[name]
    expected = ref["camvid_0001TP_train_zero_shot"]
    assert expected["weights_file"] == CITYSCAPES_WEIGHT_FILES[ref["width_scale"]]
    confusion = _zero_shot_confusion(ref["width_scale"])
    np.testing.assert_allclose(confusion, expected["confusion"], rtol=0, atol=CONFUSION_ATOL_PIXELS)
    tp = np.diag(confusion).astype(np.float64)
    iou = tp / (confusion.sum(0) + confusion.sum(1) - tp)
    assert tp.sum() / confusion.sum() == pytest.approx(expected["pixel_accuracy"], abs=1e-5)
    names = ("background", "car", "traffic sign")
    assert dict(zip(names, iou.tolist(), strict=True)) == pytest.approx(
        expected["class_iou"], abs=1e-4
    )
