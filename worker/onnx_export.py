"""Job body: export a model to ONNX (project classes out, any input size) and check it."""

from typing import Any

import numpy as np
import torch

from backend.db import session_scope
from backend.services.seg_models import get_model
from worker.evaluation import model_source
from worker.ml.checkpoints import load_model

OPSET = 17


def export_onnx(model: torch.nn.Module, path, sample_hw=(97, 131)) -> None:
    """Write an ONNX graph taking normalised N x 3 x H x W images (H, W free) to logits."""
    example = torch.zeros(1, 3, *sample_hw)
    axes = {0: "batch", 2: "height", 3: "width"}
    # The TorchScript-based exporter handles the data-dependent resize of any input size.
    # ESPNetv2's pyramid pools to input-dependent sizes that rarely divide the input, which
    # that exporter refuses; while tracing, the model pools with an exact matrix equivalent
    # (espnet_blocks.adaptive_avg_pool), so its graph also takes any size (sides >= 16 px).
    torch.onnx.export(
        model.eval(),
        (example,),
        str(path),
        input_names=["image"],
        output_names=["logits"],
        dynamic_axes={"image": axes, "logits": axes},
        opset_version=OPSET,
        dynamo=False,
    )


def run_onnx_export(ctx) -> dict[str, Any]:
    """Export a registered model and store the .onnx beside it."""
    source = model_source(ctx, ctx.params["model_id"])
    ctx.progress(0.1, "loading model")
    model, meta = load_model(
        source["path"], source["architecture"], source["output_stride"], source["classes"] or None
    )
    tmp = ctx.storage.temp_path(".onnx")
    ctx.progress(0.3, "exporting")
    export_onnx(model, tmp)
    ctx.progress(0.8, "checking with onnxruntime")
    max_diff = _check(model, tmp)
    key = f"models/onnx/model{source['id']}.onnx"
    ctx.storage.put_file(tmp, key)
    with session_scope(ctx.sessions) as session:
        get_model(session, source["id"]).onnx_key = key
    return {"model_id": source["id"], "max_abs_diff": max_diff, "mean": meta.mean, "std": meta.std}


def _check(model: torch.nn.Module, path) -> float:
    import onnxruntime

    session = onnxruntime.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    x = torch.randn(1, 3, 120, 160, generator=torch.Generator().manual_seed(0))
    with torch.inference_mode():
        expected = model(x).numpy()
    got = session.run(None, {"image": x.numpy()})[0]
    return float(np.abs(expected - got).max())
