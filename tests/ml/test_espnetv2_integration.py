"""ESPNetv2 as an engine architecture: registry, public files, class map, step 0, training,
full-resolution evaluation, self-describing checkpoints and ONNX export."""

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from PIL import Image

from worker.ml.checkpoints import (
    build_from_checkpoint,
    describe,
    guess_architecture,
    load_checkpoint,
    load_model,
)
from worker.ml.classmap import DEFAULT_PROJECT_CLASSES, GroupedLogits, make_class_map, map_labels
from worker.ml.data import Sample, TrainData
from worker.ml.evaluate import evaluate
from worker.ml.models import build_model
from worker.ml.models.espnetv2 import (
    CITYSCAPES_WEIGHT_FILES,
    WIDTH_SCALES,
    ESPNetv2Seg,
    scale_from_state,
)
from worker.ml.presets import PRESETS, default_class_map
from worker.ml.train import TrainConfig, fit, init_model
from worker.ml.warmstart import make_optimizer

from .conftest import require_shared, synthetic_samples

CITYSCAPES20 = PRESETS["cityscapes20"]
# The dusk study's map: traffic light 6 and traffic sign 7 -> traffic sign, car 13 -> car.
STUDY_MAP = make_class_map(20, {6: 2, 7: 2, 13: 1})


def _public_file(tmp_path, scale: float = 0.5, seed: int = 0, calibrate: bool = False):
    """A bare EdgeNets-style state dict (20 classes) at `scale`, like the public files."""
    torch.manual_seed(seed)
    model = build_model("espnetv2", 20, scale=scale)
    if calibrate:
        with torch.no_grad():
            model.train()(torch.randn(2, 3, 64, 96))  # non-default batch-norm statistics
    path = tmp_path / f"espnetv2_s_{scale}_city.pth"
    torch.save(model.state_dict(), path)
    return path, model.eval()


def test_registry_builds_espnetv2_and_ignores_output_stride() -> None:
    model = build_model("espnetv2", 5, 8, scale=1.5)
    assert isinstance(model, ESPNetv2Seg) and model.scale == 1.5 and model.num_classes == 5
    assert build_model("espnetv2", 5).scale == 2.0
    assert model.backbone_prefixes == ("base_net.",)
    with torch.inference_mode():
        assert model.eval()(torch.randn(1, 3, 33, 50)).shape == (1, 5, 33, 50)


@pytest.mark.parametrize("scale", WIDTH_SCALES)
def test_public_layout_is_recognised_with_its_width(tmp_path, scale: float) -> None:
    path, model = _public_file(tmp_path, scale)
    ckpt = load_checkpoint(path)
    assert ckpt.meta is None and guess_architecture(ckpt.state) == "espnetv2"
    assert scale_from_state(ckpt.state) == scale
    meta = describe(ckpt, classes=CITYSCAPES20)
    assert meta.architecture == "espnetv2" and meta.model_kwargs == {"scale": scale}
    assert meta.classes[19]["name"] == "void" and meta.output_stride == 16
    loaded = build_from_checkpoint(ckpt, meta).eval()
    x = torch.randn(1, 3, 40, 56)
    with torch.inference_mode():
        assert torch.equal(loaded(x), model(x))


def test_describe_checks_class_count_and_architecture(tmp_path) -> None:
    path, _ = _public_file(tmp_path)
    ckpt = load_checkpoint(path)
    assert len(describe(ckpt).classes) == 20  # unnamed classes, counted from the head
    with pytest.raises(ValueError, match="20 classes, 19 were given"):
        describe(ckpt, classes=PRESETS["cityscapes19"])
    deeplab = build_model("deeplabv3plus_mobilenet", 19, 16, width_mult=0.25, channels=16)
    torch.save({"model_state": deeplab.state_dict()}, tmp_path / "d.pth")
    with pytest.raises(ValueError, match="not an ESPNetv2 state dict"):
        describe(load_checkpoint(tmp_path / "d.pth"), architecture="espnetv2")


@pytest.mark.parametrize("scale", sorted(CITYSCAPES_WEIGHT_FILES))
def test_real_cityscapes_files_describe_themselves(scale: float) -> None:
    path = require_shared(f"data/weights/espnetv2_cityscapes/{CITYSCAPES_WEIGHT_FILES[scale]}")
    model, meta = load_model(path, classes=CITYSCAPES20)
    assert meta.architecture == "espnetv2" and meta.model_kwargs == {"scale": scale}
    assert [c["name"] for c in meta.classes][13] == "car" and not model.training


def test_default_class_map_for_the_twenty_classes() -> None:
    table = default_class_map(CITYSCAPES20, ["background", "car", "traffic sign"])
    assert table == make_class_map(20, {13: 1, 7: 2})
    assert table[19] == 0 and table[6] == 0  # void and traffic light: background by default
    labels = np.array([[6, 7, 13, 19]], np.uint8)
    assert map_labels(labels, STUDY_MAP).tolist() == [[2, 2, 1, 0]]


def test_encoder_trains_at_the_backbone_multiplier(tmp_path) -> None:
    path, _ = _public_file(tmp_path)
    config = TrainConfig(
        base_checkpoint=str(path),
        base_classes=CITYSCAPES20,
        class_map=STUDY_MAP,
        classes=DEFAULT_PROJECT_CLASSES,
        backbone_lr_mult=0.1,
    )
    model, _ = init_model(config)
    groups = make_optimizer(model, config).param_groups
    names = {id(p): n for n, p in model.base.named_parameters()}
    by_mult = {g["lr_mult"]: {names[id(p)] for p in g["params"]} for g in groups}
    assert by_mult[0.1] and all(n.startswith("base_net.") for n in by_mult[0.1])
    assert by_mult[1.0] and not any(n.startswith("base_net.") for n in by_mult[1.0])
    assert len(by_mult[0.1]) + len(by_mult[1.0]) == len(names)


def _competing_base(tmp_path) -> tuple[str, torch.Tensor, torch.nn.Module]:
    """A 20-class ESPNetv2 file whose classes compete closely on a 360x480 frame."""
    path, model = _public_file(tmp_path, scale=0.5, seed=2, calibrate=True)
    gen = torch.Generator().manual_seed(1)
    coarse = torch.rand(1, 3, 12, 16, generator=gen)
    x = F.interpolate(coarse, size=(360, 480), mode="bilinear") * 2 - 1
    x = x + 0.1 * torch.randn(1, 3, 360, 480, generator=gen)
    with torch.no_grad():
        # Centre each class's logits so that many classes win somewhere in the frame.
        model.bu_dec_l4.merge_layer[3].bias -= model(x).mean((0, 2, 3))
    torch.save(model.state_dict(), path)
    return str(path), x, model


def test_step0_predicts_the_mapped_base(tmp_path) -> None:
    path, x, base = _competing_base(tmp_path)
    with torch.inference_mode():
        source_logits = base(x)
    winners = source_logits.argmax(1)[0].numpy().astype(np.uint8)
    assert len(np.unique(winners)) >= 10  # a non-trivial case
    before = map_labels(winners, STUDY_MAP)
    assert set(np.unique(before)) == {0, 1, 2}

    config = TrainConfig(
        base_checkpoint=path,
        base_classes=CITYSCAPES20,
        class_map=STUDY_MAP,
        classes=DEFAULT_PROJECT_CLASSES,
        architecture="espnetv2",
    )
    model, meta = init_model(config)
    assert isinstance(model, GroupedLogits) and meta.class_map == STUDY_MAP
    assert meta.model_kwargs == {"scale": 0.5} and meta.source_classes == CITYSCAPES20
    with torch.inference_mode():
        project_logits = model.eval()(x)
    assert project_logits.shape == (1, 3, 360, 480)
    np.testing.assert_array_equal(project_logits.argmax(1)[0].numpy(), before)


def test_step0_on_a_real_dusk_frame_with_the_real_weights() -> None:
    weights = require_shared("data/weights/espnetv2_cityscapes/espnetv2_s_2.0_city_1024x512.pth")
    frame = sorted(require_shared("data/camvid/train").glob("0001TP_*.png"))[0]
    image = np.asarray(Image.open(frame).convert("RGB"))
    base, meta = load_model(weights, classes=CITYSCAPES20)
    config = TrainConfig(
        base_checkpoint=str(weights),
        base_classes=CITYSCAPES20,
        class_map=STUDY_MAP,
        classes=DEFAULT_PROJECT_CLASSES,
    )
    model, _ = init_model(config)
    sample = [Sample(image, np.zeros(image.shape[:2], np.uint8), frame.stem)]
    kw = {"mean": meta.mean, "std": meta.std, "device": "cpu"}
    mapped = evaluate(base, sample, 3, class_map=STUDY_MAP, **kw).predictions[0]
    grouped = evaluate(model, sample, 3, **kw).predictions[0]
    assert mapped.shape == (360, 480)
    assert set(np.unique(mapped)) == {0, 1, 2}
    np.testing.assert_array_equal(grouped, mapped)


def test_evaluation_predicts_at_the_full_odd_resolution(tmp_path) -> None:
    path, _ = _public_file(tmp_path)
    model, meta = load_model(path, classes=CITYSCAPES20)
    rng = np.random.default_rng(0)
    samples = [
        Sample(
            rng.integers(0, 255, (h, w, 3), dtype=np.uint8),
            rng.integers(0, 3, (h, w)).astype(np.uint8),
            f"{h}x{w}",
        )
        for h, w in ((360, 480), (1080, 1920), (37, 71))
    ]
    result = evaluate(
        model, samples, 3, mean=meta.mean, std=meta.std, class_map=STUDY_MAP, device="cpu"
    )
    assert [p.shape for p in result.predictions] == [(360, 480), (1080, 1920), (37, 71)]
    assert result.confusion.sum() == sum(s.mask.size for s in samples)


def test_fine_tune_writes_a_self_describing_checkpoint(tmp_path) -> None:
    path, _ = _public_file(tmp_path, calibrate=True)
    # 60 x 90 frames: neither side is a multiple of 16.
    train = synthetic_samples(4, height=60, width=90, seed=0)
    data = TrainData(train=train, val=synthetic_samples(2, height=60, width=90, seed=1))
    config = TrainConfig(
        output_dir=str(tmp_path / "run"),
        base_checkpoint=str(path),
        base_classes=CITYSCAPES20,
        class_map=STUDY_MAP,
        architecture="espnetv2",
        batch_size=2,
        iterations=3,
        crop_size=64,
        checkpoint_every=100,
        device="cpu",
        amp="off",
        num_threads=1,
        overlay_max_side=0,
    )
    result = fit(config, data, lambda p: None)
    assert [h["iteration"] for h in result.history] == [0, 1, 2, 3]
    assert all(h["train_loss"] is not None for h in result.history[1:])
    model, meta = load_model(result.latest_checkpoint)
    assert meta.architecture == "espnetv2" and meta.model_kwargs == {"scale": 0.5}
    assert meta.class_map == STUDY_MAP and meta.source_classes == CITYSCAPES20
    assert [c["name"] for c in meta.classes] == ["background", "car", "traffic sign"]
    assert isinstance(model, GroupedLogits)
    raw = torch.load(result.latest_checkpoint, weights_only=True)
    assert list(raw["model_state"]) == list(build_model("espnetv2", 20, scale=0.5).state_dict())
    with torch.inference_mode():
        assert model(torch.randn(1, 3, 45, 70)).shape == (1, 3, 45, 70)


def test_onnx_export_keeps_any_input_size(tmp_path) -> None:
    onnxruntime = pytest.importorskip("onnxruntime")
    from worker.onnx_export import export_onnx

    path, _ = _public_file(tmp_path, calibrate=True)
    model, _ = init_model(
        TrainConfig(
            base_checkpoint=str(path),
            base_classes=CITYSCAPES20,
            class_map=STUDY_MAP,
            classes=DEFAULT_PROJECT_CLASSES,
        )
    )
    model.eval()
    export_onnx(model, tmp_path / "m.onnx")
    session = onnxruntime.InferenceSession(
        str(tmp_path / "m.onnx"), providers=["CPUExecutionProvider"]
    )
    # 1120 px high: the stride-16 map is 70 rows and its 0.1 pyramid level ceil(7.000...1) = 8.
    for h, w in ((75, 101), (360, 480), (64, 64), (1120, 40)):
        x = torch.randn(2, 3, h, w, generator=torch.Generator().manual_seed(h))
        with torch.inference_mode():
            expected = model(x).numpy()
        got = session.run(None, {"image": x.numpy()})[0]
        assert got.shape == (2, 3, h, w)
        assert np.abs(got - expected).max() < 1e-4 * max(1.0, np.abs(expected).max())
        assert (got.argmax(1) == expected.argmax(1)).mean() > 0.999
