"""Class mapping, and the no-cold-head guarantee: step 0 predicts what the mapped base predicts."""

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from worker.ml.checkpoints import save_checkpoint
from worker.ml.classmap import (
    CITYSCAPES_CLASSES,
    DEFAULT_PROJECT_CLASSES,
    GroupedLogits,
    cityscapes_default_map,
    make_class_map,
    map_labels,
    validate_class_map,
)
from worker.ml.models import build_model
from worker.ml.train import TrainConfig, init_model


def test_cityscapes_preset() -> None:
    table = cityscapes_default_map()
    assert len(table) == 19
    assert table[13] == 1 and table[7] == 2
    assert [t for i, t in enumerate(table) if i not in (7, 13)] == [0] * 17
    assert CITYSCAPES_CLASSES[13]["name"] == "car"
    assert CITYSCAPES_CLASSES[7]["name"] == "traffic sign"


def test_edited_map_and_labels() -> None:
    table = make_class_map(19, {13: 1, 7: 2, 6: 2})  # traffic light counted as sign
    labels = np.array([[6, 7, 13], [0, 18, 255]], np.uint8)
    assert map_labels(labels, table).tolist() == [[2, 2, 1], [0, 0, 255]]
    with pytest.raises(ValueError):
        make_class_map(19, {19: 1})


def test_invalid_maps_are_rejected() -> None:
    with pytest.raises(ValueError, match="outside"):
        validate_class_map([0, 1, 3], 3)
    with pytest.raises(ValueError, match="no source class"):
        validate_class_map([0, 0, 1], 3)


def _base_model() -> tuple[torch.nn.Module, torch.Tensor]:
    """A 19-class MobileNetV2 DeepLabv3+ whose classes compete closely on a 360x480 frame."""
    torch.manual_seed(0)
    model = build_model("deeplabv3plus_mobilenet", 19, 16)
    gen = torch.Generator().manual_seed(1)

    def frame() -> torch.Tensor:
        coarse = torch.rand(1, 3, 12, 16, generator=gen)
        smooth = F.interpolate(coarse, size=(360, 480), mode="bilinear") * 2 - 1
        return smooth + 0.1 * torch.randn(1, 3, 360, 480, generator=gen)

    with torch.no_grad():
        model.train()(torch.cat([frame(), frame()]))  # realistic batch-norm statistics
        model.eval()
        x = frame()
        # Centre each class's logits so that many classes win somewhere in the frame.
        model.classifier.classifier[3].bias -= model(x).mean((0, 2, 3))
    return model, x


def test_step0_predicts_the_mapped_base(tmp_path) -> None:
    base, x = _base_model()
    table = cityscapes_default_map()
    with torch.inference_mode():
        source_logits = base(x)
    before = map_labels(source_logits.argmax(1)[0].numpy().astype(np.uint8), table)
    assert len(np.unique(source_logits.argmax(1))) >= 10  # a non-trivial case
    assert set(np.unique(before)) == {0, 1, 2}

    # The fine-tune model as fit() builds it from a public-layout base file.
    path = tmp_path / "base.pth"
    torch.save({"model_state": base.state_dict(), "cur_itrs": 30000}, path)
    config = TrainConfig(
        base_checkpoint=str(path),
        base_classes=CITYSCAPES_CLASSES,
        class_map=table,
        classes=DEFAULT_PROJECT_CLASSES,
    )
    model, meta = init_model(config)
    assert isinstance(model, GroupedLogits) and meta.class_map == table
    with torch.inference_mode():
        project_logits = model.eval()(x)
    assert project_logits.shape == (1, 3, 360, 480)
    np.testing.assert_array_equal(project_logits.argmax(1)[0].numpy(), before)

    # Grouping by log-sum-exp would not keep the argmax: the test can tell the difference.
    lse = torch.stack(
        [source_logits[:, [s for s in range(19) if table[s] == k]].logsumexp(1) for k in range(3)],
        1,
    )
    assert (lse.argmax(1)[0].numpy() != before).mean() > 0.01


def test_finetuning_a_finetuned_model_composes_maps(tmp_path) -> None:
    torch.manual_seed(0)
    base = build_model(
        "deeplabv3plus_mobilenet", 5, 16, width_mult=0.25, channels=16, low_proj=8
    ).eval()
    first = GroupedLogits(base, [0, 1, 1, 2, 0], 3)
    from worker.ml.checkpoints import ModelMeta

    meta = ModelMeta(
        "deeplabv3plus_mobilenet",
        16,
        DEFAULT_PROJECT_CLASSES,
        source_classes=[{"index": i, "name": str(i), "color": [0, 0, 0]} for i in range(5)],
        class_map=[0, 1, 1, 2, 0],
        model_kwargs={"width_mult": 0.25, "channels": 16, "low_proj": 8},
    )
    save_checkpoint(tmp_path / "ft.pt", first, meta)
    two = [
        {"index": 0, "name": "other", "color": [0, 0, 0]},
        {"index": 1, "name": "vehicle", "color": [9, 9, 9]},
    ]
    model, new_meta = init_model(
        TrainConfig(base_checkpoint=str(tmp_path / "ft.pt"), classes=two, class_map=[0, 1, 0])
    )
    assert new_meta.class_map == [0, 1, 1, 0, 0]
    x = torch.randn(1, 3, 40, 56)
    with torch.inference_mode():
        expected = map_labels(first(x).argmax(1).numpy().astype(np.uint8), [0, 1, 0])
        np.testing.assert_array_equal(model.eval()(x).argmax(1).numpy(), expected)


def test_same_classes_need_no_grouping_and_other_counts_need_a_map(tmp_path) -> None:
    from worker.ml.checkpoints import ModelMeta

    torch.manual_seed(0)
    kwargs = {"width_mult": 0.25, "channels": 16, "low_proj": 8}
    plain = build_model("deeplabv3plus_mobilenet", 3, 16, **kwargs)
    meta = ModelMeta("deeplabv3plus_mobilenet", 16, DEFAULT_PROJECT_CLASSES, model_kwargs=kwargs)
    save_checkpoint(tmp_path / "plain.pt", plain, meta)
    model, new_meta = init_model(TrainConfig(base_checkpoint=str(tmp_path / "plain.pt")))
    assert not isinstance(model, GroupedLogits) and new_meta.class_map is None
    x = torch.randn(1, 3, 30, 40)
    with torch.inference_mode():
        assert torch.equal(model.eval()(x), plain.eval()(x))
    with pytest.raises(ValueError, match="a class map is needed"):
        init_model(
            TrainConfig(
                base_checkpoint=str(tmp_path / "plain.pt"), classes=DEFAULT_PROJECT_CLASSES[:2]
            )
        )
