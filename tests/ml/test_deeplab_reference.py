"""The models load the public DeepLabV3Plus-Pytorch layout and compute the same function."""

import json

import numpy as np
import pytest
import torch

from worker.ml.models import build_model

from .conftest import recipe_input, recipe_state, require_shared

VARIANTS = [
    "deeplabv3plus_mobilenet_os16",
    "deeplabv3plus_mobilenet_os8",
    "deeplabv3plus_resnet50_os16",
    "deeplabv3plus_resnet101_os16",
]


@pytest.fixture(scope="module")
def reference() -> dict:
    path = require_shared("reference/deeplabv3plus/reference.json")
    return json.loads(path.read_text())


@pytest.mark.parametrize("variant", VARIANTS)
def test_matches_reference(reference: dict, variant: str) -> None:
    ref = reference[variant]
    model = build_model(ref["architecture"], ref["num_classes"], ref["output_stride"]).eval()

    keys = [
        (k, list(t.shape), str(t.dtype).removeprefix("torch."))
        for k, t in model.state_dict().items()
    ]
    assert keys == [tuple(entry) for entry in ref["keys"]]

    # strict=True: every reference key is consumed and nothing is left over.
    model.load_state_dict(recipe_state(model, ref["fill_scale"]), strict=True)
    with torch.inference_mode():
        out = model(recipe_input(tuple(ref["input_shape"])))

    assert list(out.shape) == ref["output_shape"]
    flat = out.flatten().double().numpy()
    probes = flat[np.asarray(ref["probe_indices"])]
    tolerance = 5e-4 * ref["std"]
    worst = np.abs(probes - np.asarray(ref["probe_values"])).max()
    assert worst <= tolerance, f"worst probe error {worst:.3g} > {tolerance:.3g}"
    assert flat.mean() == pytest.approx(ref["mean"], abs=tolerance)
    assert flat.std() == pytest.approx(ref["std"], rel=1e-3)
    assert flat.min() == pytest.approx(ref["min"], abs=10 * tolerance)
    assert flat.max() == pytest.approx(ref["max"], abs=10 * tolerance)
