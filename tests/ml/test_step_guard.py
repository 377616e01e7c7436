"""Garbage gradients: the step guard skips them, and depthwise convolutions stay float32 in bf16."""

import copy

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torch import nn

from worker.ml import train as train_module
from worker.ml.data import TrainData
from worker.ml.defences import StepGuard, gradient_norm
from worker.ml.runtime import Float32DepthwiseConv2d, depthwise_in_float32
from worker.ml.train import Progress, fit

from .conftest import synthetic_samples
from .test_defences import _config
from .test_train import _grouped_base


def test_the_guard_refuses_non_finite_gradients_and_spikes_and_counts_the_rest():
    guard = StepGuard(100.0)
    assert [guard.refuse(v) for v in (2.0, 6.0, 11.0)] == [None, None, None]
    assert guard.refuse(float("nan")) == "non-finite gradient"
    assert guard.refuse(float("inf")) == "non-finite gradient"
    assert guard.refuse(3e24).startswith("gradient spike: norm 3e+24")
    assert guard.refuse(500.0) is None  # 83 x the median 6: a big real step still goes
    assert guard.norms == [2.0, 6.0, 11.0, 500.0]
    # Fewer than 3 accepted steps: no median to judge by, only finiteness.
    assert StepGuard(100.0, [1.0]).refuse(1e9) is None
    assert StepGuard(0.0, [1.0, 1.0, 1.0]).refuse(1e30) is None  # 0 = off


def test_gradient_norm_is_the_global_l2_norm_and_not_finite_when_one_gradient_is_not():
    layer = nn.Linear(2, 1)
    assert np.isnan(gradient_norm(layer))  # no gradients yet
    layer.weight.grad = torch.tensor([[3.0, 0.0]])
    layer.bias.grad = torch.tensor([4.0])
    assert gradient_norm(layer) == pytest.approx(5.0)
    layer.bias.grad = torch.tensor([float("inf")])
    assert not np.isfinite(gradient_norm(layer))


def test_depthwise_convolutions_run_in_float32_inside_bf16_autocast():
    torch.manual_seed(0)
    model = nn.Sequential(
        nn.Conv2d(4, 4, 3, padding=2, dilation=2, groups=4, bias=False),
        nn.Conv2d(4, 8, 1),
        nn.Conv2d(8, 8, 3, groups=2),  # grouped but not depthwise: left as it is
    )
    state = copy.deepcopy(model.state_dict())
    assert depthwise_in_float32(model) == 1
    assert type(model[0]) is Float32DepthwiseConv2d and type(model[2]) is nn.Conv2d
    assert model.state_dict().keys() == state.keys()
    assert all(torch.equal(model.state_dict()[k], v) for k, v in state.items())
    x = torch.randn(2, 4, 16, 16)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        depthwise = model[0](x)
        pointwise = model[1](depthwise)
    assert depthwise.dtype == torch.float32 and pointwise.dtype == torch.bfloat16
    expected = F.conv2d(x, model[0].weight, padding=2, dilation=2, groups=4)
    assert torch.equal(depthwise, expected)
    assert type(copy.deepcopy(model)[0]) is Float32DepthwiseConv2d  # the teacher's copy too
    assert model[0](x).dtype == torch.float32  # outside autocast: a plain convolution


def _fit_with_a_garbage_gradient_at(step: int, tmp_path, monkeypatch, **config) -> list[Progress]:
    """Fit a tiny model whose classifier gradient is multiplied by 1e25 at one step."""
    calls = {"n": 0}
    real = train_module.gradient_norm

    def corrupting(model):
        calls["n"] += 1
        if calls["n"] == step:
            last = [p for p in model.parameters() if p.grad is not None and p.dim() == 4][-1]
            last.grad.mul_(1e25)  # what the bf16 depthwise kernel returned now and then
        return real(model)

    monkeypatch.setattr(train_module, "gradient_norm", corrupting)
    base, table = _grouped_base(tmp_path)
    data = TrainData(train=synthetic_samples(4, seed=0), val=synthetic_samples(2, seed=1))
    history: list[Progress] = []
    fit(_config(tmp_path / "run", base, table, **config), data, history.append)
    return history


def test_a_garbage_gradient_is_skipped_and_validation_stays_sane(tmp_path, monkeypatch):
    history = _fit_with_a_garbage_gradient_at(4, tmp_path, monkeypatch)
    assert history[4].skipped.startswith("gradient spike") and history[4].train_loss is None
    assert [p.iteration for p in history if p.skipped] == [4]
    assert all(0 < p.grad_norm < 1e5 for p in history[1:] if not p.skipped)
    losses = [p.val_loss for p in history]
    assert all(np.isfinite(v) and v < 10 * losses[0] for v in losses)


def test_without_the_guard_the_same_gradient_makes_validation_explode(tmp_path, monkeypatch):
    history = _fit_with_a_garbage_gradient_at(4, tmp_path, monkeypatch, spike_guard=0.0)
    assert history[4].skipped is None and history[4].grad_norm > 1e20
    base_loss, after = history[0].val_loss, history[4].val_loss
    assert not np.isfinite(after) or after > 10 * base_loss
