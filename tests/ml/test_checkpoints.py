"""Checkpoints describe themselves, keep the public layout and load public files too."""

import pickle

import numpy as np
import pytest
import torch

from worker.ml.checkpoints import (
    ModelMeta,
    build_from_checkpoint,
    describe,
    guess_architecture,
    load_checkpoint,
    load_model,
    save_checkpoint,
)
from worker.ml.classmap import DEFAULT_PROJECT_CLASSES, GroupedLogits
from worker.ml.models import build_model

from .conftest import TINY


def _tiny(num_classes: int = 3) -> torch.nn.Module:
    torch.manual_seed(0)
    model = build_model("deeplabv3plus_mobilenet", num_classes, 16, **TINY)
    with torch.no_grad():  # non-default running stats, so a lost buffer would show
        model.train()(torch.randn(2, 3, 48, 64))
    return model.eval()


def _meta(**kw) -> ModelMeta:
    return ModelMeta(
        "deeplabv3plus_mobilenet", 16, DEFAULT_PROJECT_CLASSES, model_kwargs=dict(TINY), **kw
    )


def test_round_trip_keeps_metadata_and_outputs(tmp_path) -> None:
    model = _tiny()
    meta = _meta(
        mean=[0.5, 0.5, 0.5],
        std=[0.25, 0.25, 0.25],
        train_config={"iterations": 24},
        metrics={"val": {"mean_iou": 0.5}},
    )
    path = save_checkpoint(tmp_path / "run" / "best.pt", model, meta, iteration=7)
    assert sorted(p.name for p in path.parent.iterdir()) == ["best.pt"]  # no temp files left

    raw = torch.load(path, weights_only=True)
    assert list(raw["model_state"]) == list(model.state_dict())  # public key layout
    assert raw["segtune"]["format"] == 1

    loaded, loaded_meta = load_model(path)
    assert loaded_meta == meta
    assert load_checkpoint(path).extra == {"iteration": 7}
    x = torch.randn(1, 3, 45, 61)
    with torch.inference_mode():
        assert torch.equal(model(x), loaded(x))


def test_grouped_model_saves_the_base_layout(tmp_path) -> None:
    base = _tiny(5)
    grouped = GroupedLogits(base, [0, 1, 2, 2, 0], 3)
    sources = [{"index": i, "name": f"s{i}", "color": [i, i, i]} for i in range(5)]
    path = save_checkpoint(
        tmp_path / "g.pt", grouped, _meta(source_classes=sources, class_map=[0, 1, 2, 2, 0])
    )
    assert list(load_checkpoint(path).state) == list(base.state_dict())
    loaded, meta = load_model(path)
    assert isinstance(loaded, GroupedLogits) and meta.head_classes == 5
    x = torch.randn(1, 3, 33, 47)
    with torch.inference_mode():
        assert torch.equal(grouped(x), loaded(x))


def test_loads_public_and_bare_files(tmp_path) -> None:
    model = _tiny(19)
    state = model.state_dict()
    public = {
        "model_state": state,
        "optimizer_state": {"state": {}, "param_groups": []},
        "scheduler_state": {"last_epoch": 30000},
        "cur_itrs": 30000,
        "best_score": np.float64(0.721),
    }  # a numpy scalar, as the public files have
    torch.save(public, tmp_path / "public.pth")
    torch.save(state, tmp_path / "bare.pth")
    torch.save({"module." + k: v for k, v in state.items()}, tmp_path / "parallel.pth")
    x = torch.randn(1, 3, 40, 40)
    with torch.inference_mode():
        expected = model(x)
    for name in ("public.pth", "bare.pth", "parallel.pth"):
        ckpt = load_checkpoint(tmp_path / name)
        assert ckpt.meta is None and guess_architecture(ckpt.state) == "deeplabv3plus_mobilenet"
        meta = describe(ckpt, output_stride=16)
        assert len(meta.classes) == 19 and meta.mean == [0.485, 0.456, 0.406]
        meta.model_kwargs = dict(TINY)  # reduced widths are not recorded in public files
        with torch.inference_mode():
            assert torch.equal(build_from_checkpoint(ckpt, meta).eval()(x), expected)
    assert load_checkpoint(tmp_path / "public.pth").extra["best_score"] == pytest.approx(0.721)


def test_load_model_on_a_full_size_public_file(tmp_path) -> None:
    torch.manual_seed(0)
    model = build_model("deeplabv3plus_resnet50", 19, 16).eval()
    torch.save(
        {"model_state": model.state_dict(), "best_score": np.float64(0.7)},
        tmp_path / "best_deeplabv3plus_resnet50_cityscapes_os16.pth",
    )
    loaded, meta = load_model(tmp_path / "best_deeplabv3plus_resnet50_cityscapes_os16.pth")
    assert meta.architecture == "deeplabv3plus_resnet50" and meta.output_stride == 16
    x = torch.randn(1, 3, 33, 41)
    with torch.inference_mode():
        assert torch.equal(model(x), loaded(x))


class _Payload:
    def __reduce__(self):
        return (print, ("arbitrary code ran",))


def test_refuses_arbitrary_pickles(tmp_path) -> None:
    path = tmp_path / "evil.pth"
    with open(path, "wb") as f:
        pickle.dump({"model_state": _Payload()}, f, protocol=2)
    with pytest.raises(pickle.UnpicklingError):
        load_checkpoint(path)


def test_wrong_files_and_class_counts(tmp_path) -> None:
    torch.save({"hello": "world"}, tmp_path / "x.pth")
    with pytest.raises(ValueError, match="not a checkpoint"):
        load_checkpoint(tmp_path / "x.pth")
    torch.save({"model_state": _tiny(19).state_dict()}, tmp_path / "p.pth")
    with pytest.raises(ValueError, match="19 classes, 3 were given"):
        load_model(tmp_path / "p.pth", classes=DEFAULT_PROJECT_CLASSES)
