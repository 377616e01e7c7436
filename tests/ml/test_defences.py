"""Defences against overfitting and forgetting, multi-scale inference, float32 validation."""

from dataclasses import replace

import numpy as np
import pytest
import torch
from torch import nn

from worker.ml.checkpoints import load_checkpoint
from worker.ml.data import TrainData
from worker.ml.defences import (
    WeightAnchor,
    WeightAverage,
    distillation_loss,
    freeze_batchnorm,
)
from worker.ml.evaluate import predict_logits
from worker.ml.models import build_model
from worker.ml.train import Progress, TrainConfig, fit

from .conftest import TINY, synthetic_samples
from .test_train import _grouped_base


def test_distillation_is_zero_for_the_teacher_itself_and_grows_with_disagreement():
    teacher = torch.randn(2, 5, 4, 4)
    everywhere = torch.ones(2, 4, 4, dtype=torch.bool)
    assert distillation_loss(teacher, teacher, 2.0, everywhere).item() == pytest.approx(0, abs=1e-6)
    near = distillation_loss(teacher + 0.1 * torch.randn_like(teacher), teacher, 2.0, everywhere)
    far = distillation_loss(torch.randn_like(teacher), teacher, 2.0, everywhere)
    assert 0 < near.item() < far.item()
    nowhere = torch.zeros_like(everywhere)
    assert distillation_loss(torch.randn_like(teacher), teacher, 2.0, nowhere).item() == 0


def test_weight_anchor_pulls_toward_the_start():
    layer = nn.Linear(3, 2)
    anchor = WeightAnchor(layer)
    start = layer.weight.detach().clone()
    with torch.no_grad():
        layer.weight.add_(1.0)
    layer.weight.grad = torch.zeros_like(layer.weight)
    layer.bias.grad = torch.zeros_like(layer.bias)
    anchor.pull(layer, 0.5)
    assert torch.allclose(layer.weight.grad, torch.full_like(start, 0.5))
    assert torch.allclose(layer.bias.grad, torch.zeros_like(layer.bias))


def test_weight_average_follows_the_weights_and_restores_the_raw_ones():
    layer = nn.Linear(2, 1, bias=False)
    with torch.no_grad():
        layer.weight.fill_(0.0)
    ema = WeightAverage(layer, decay=0.5)
    with torch.no_grad():
        layer.weight.fill_(1.0)
    ema.update(layer)
    ema.update(layer)
    assert torch.allclose(ema.shadow["weight"], torch.full((1, 2), 0.75))
    with ema.applied(layer):
        assert torch.allclose(layer.weight, torch.full((1, 2), 0.75))
    assert torch.allclose(layer.weight, torch.ones(1, 2))


def test_frozen_batch_norm_keeps_the_running_statistics():
    model = nn.Sequential(nn.Conv2d(3, 4, 3), nn.BatchNorm2d(4)).train()
    before = model[1].running_mean.clone()
    freeze_batchnorm(model)
    model(torch.randn(4, 3, 8, 8) + 5)
    assert torch.equal(model[1].running_mean, before) and model[0].training


def _config(tmp_path, base, table, **defences) -> TrainConfig:
    return TrainConfig(
        output_dir=str(tmp_path),
        base_checkpoint=base,
        class_map=table,
        batch_size=2,
        iterations=6,
        crop_size=48,
        checkpoint_every=2,
        device="cpu",
        amp="off",
        seed=5,
        num_threads=1,
        overlay_max_side=0,
        **defences,
    )


ALL = {
    "distill_weight": 1.0,
    "l2sp_weight": 0.05,
    "freeze_bn": True,
    "ema_decay": 0.8,
    "select": "last",
}


def test_every_defence_together_trains_keeps_the_average_and_resumes_exactly(tmp_path):
    base, table = _grouped_base(tmp_path)
    data = TrainData(train=synthetic_samples(5, seed=0), val=synthetic_samples(2, seed=1))
    config = _config(tmp_path / "full", base, table, **ALL)
    full: list[Progress] = []
    result = fit(config, data, full.append)
    assert all(np.isfinite(p.train_loss) for p in full[1:])
    assert result.best_iteration == 6  # "last": the final average is kept
    kept = load_checkpoint(result.best_checkpoint)
    latest = load_checkpoint(result.latest_checkpoint)
    # The kept model is the weight average, not the raw weights; BN statistics are the base's.
    assert any(not torch.equal(kept.state[k], latest.state[k]) for k in kept.state)
    base_state = load_checkpoint(base).state
    stats = [k for k in base_state if k.endswith("running_mean")]
    assert stats and all(torch.equal(latest.state[k], base_state[k]) for k in stats)

    class Stop(Exception):
        pass

    def stop_at_3(progress: Progress) -> None:
        if progress.iteration == 3:
            raise Stop

    again = replace(config, output_dir=str(tmp_path / "again"))
    with pytest.raises(Stop):
        fit(again, data, stop_at_3)
    resumed = fit(again, data, lambda p: None, resume_from=tmp_path / "again")
    a, b = load_checkpoint(result.best_checkpoint), load_checkpoint(resumed.best_checkpoint)
    assert all(torch.equal(a.state[k], b.state[k]) for k in a.state)


def test_distillation_and_anchor_change_the_result(tmp_path):
    base, table = _grouped_base(tmp_path)
    data = TrainData(train=synthetic_samples(5, seed=0), val=synthetic_samples(2, seed=1))
    plain = fit(_config(tmp_path / "plain", base, table), data, lambda p: None)
    anchored = fit(
        _config(tmp_path / "anchored", base, table, l2sp_weight=1.0), data, lambda p: None
    )
    start = load_checkpoint(base).state

    def drift(path) -> float:
        state = load_checkpoint(path).state
        return sum(float((state[k] - start[k]).abs().sum()) for k in start if "running" not in k)

    assert drift(anchored.latest_checkpoint) < drift(plain.latest_checkpoint)


def _unlabeled(n: int, seed: int):
    samples = synthetic_samples(n, seed=seed)
    for s in samples:
        s.mask[:] = 255
    return samples


def test_distillation_on_unlabeled_frames_changes_the_result_only_when_distilling(tmp_path):
    base, table = _grouped_base(tmp_path)
    train, val = synthetic_samples(5, seed=0), synthetic_samples(2, seed=1)
    with_frames = TrainData(train=train, val=val, unlabeled=_unlabeled(3, seed=2))
    without = TrainData(train=train, val=val)

    def final(name, data, **defences):
        result = fit(_config(tmp_path / name, base, table, **defences), data, lambda p: None)
        return load_checkpoint(result.latest_checkpoint).state

    lwf = {"distill_weight": 1.0, "distill_unlabeled_batch": 2}
    a, b = final("lwf_frames", with_frames, **lwf), final("lwf_none", without, **lwf)
    assert any(not torch.equal(a[k], b[k]) for k in a)  # the unlabeled crops were learned from
    # Without distillation the unlabeled frames are ignored: their masks hold no labels.
    c = final("plain_frames", with_frames, distill_unlabeled_batch=2)
    d = final("plain_none", without, distill_unlabeled_batch=2)
    assert all(torch.equal(c[k], d[k]) for k in c)


def test_selection_by_validation_loss_keeps_the_lowest_loss(tmp_path):
    base, table = _grouped_base(tmp_path)
    data = TrainData(train=synthetic_samples(5, seed=0), val=synthetic_samples(2, seed=1))
    history: list[Progress] = []
    result = fit(_config(tmp_path / "run", base, table, select="val_loss"), data, history.append)
    losses = {p.iteration: p.val_loss for p in history if p.val_loss is not None}
    assert result.best_iteration == min(losses, key=losses.get)
    assert result.best_val_miou == next(
        p.val_miou for p in history if p.iteration == result.best_iteration
    )


def test_multi_scale_inference_averages_rescaled_predictions():
    torch.manual_seed(0)
    model = build_model("deeplabv3plus_mobilenet", 3, 16, **TINY).eval()
    image = np.random.default_rng(0).integers(0, 255, (40, 56, 3), dtype=np.uint8)
    mean, std, cpu = [0.5] * 3, [0.25] * 3, torch.device("cpu")
    one = predict_logits(model, image, mean, std, cpu)
    assert torch.equal(predict_logits(model, image, mean, std, cpu, scales=(1.0,)), one)
    assert torch.allclose(predict_logits(model, image, mean, std, cpu, scales=(1.0, 1.0)), one)
    larger = predict_logits(model, image, mean, std, cpu, scales=(1.5,))
    both = predict_logits(model, image, mean, std, cpu, scales=(1.0, 1.5))
    assert larger.shape == one.shape == both.shape
    assert torch.allclose(both, (one + larger) / 2, atol=1e-5)


def test_dead_batch_norm_channels_are_revived_after_step_zero(tmp_path):
    from worker.ml.checkpoints import save_checkpoint
    from worker.ml.defences import revive_dead_channels

    bn = nn.BatchNorm2d(3)
    bn.running_var.copy_(torch.tensor([4e-42, 1e-4, 2.0]))
    assert revive_dead_channels(bn, 1e-6) == 1
    assert bn.running_var.tolist() == pytest.approx([1.0, 1e-4, 2.0])

    # A base with a dead channel (public Cityscapes weights have hundreds): every state after
    # step 0 has it revived, and the others keep their statistics.
    base, table = _grouped_base(tmp_path)
    ckpt = load_checkpoint(base)
    key = next(k for k in ckpt.state if k.endswith("running_var"))
    ckpt.state[key][0] = 4e-42
    model = build_model("deeplabv3plus_mobilenet", 5, 16, **TINY)
    model.load_state_dict(ckpt.state)
    save_checkpoint(base, model, ckpt.meta)
    data = TrainData(train=synthetic_samples(5, seed=0), val=synthetic_samples(2, seed=1))
    result = fit(_config(tmp_path / "run", base, table), data, lambda p: None)
    latest = load_checkpoint(result.latest_checkpoint).state
    assert float(latest[key][0]) > 0.5
    assert all(float(latest[k].min()) > 1e-6 for k in latest if k.endswith("running_var"))


def test_the_distillation_teacher_has_its_dead_channels_revived_too(tmp_path):
    from worker.ml.train import _defences, init_model

    base, table = _grouped_base(tmp_path)
    config = _config(tmp_path / "run", base, table, distill_weight=1.0)
    model, _meta = init_model(config)
    bn = next(m for m in model.modules() if isinstance(m, nn.BatchNorm2d))
    bn.running_var[0] = 4e-42
    teacher, _anchor, _ema = _defences(config, model, torch.device("cpu"), {"iteration": 0})
    teacher_bn = next(m for m in teacher.model.modules() if isinstance(m, nn.BatchNorm2d))
    assert float(teacher_bn.running_var[0]) == 1.0
    assert float(bn.running_var[0]) == pytest.approx(4e-42)  # step 0 stays the base model


def test_a_step_that_turned_to_nan_can_be_undone():
    from worker.ml.defences import batchnorm_statistics, gradient_norm, restore_statistics

    model = nn.Sequential(nn.Conv2d(3, 4, 3), nn.BatchNorm2d(4)).train()
    saved = batchnorm_statistics(model)
    out = model(torch.full((2, 3, 8, 8), float("nan")))
    out.sum().backward()
    assert not np.isfinite(gradient_norm(model)) and torch.isnan(model[1].running_mean).all()
    restore_statistics(saved)
    assert torch.equal(model[1].running_mean, torch.zeros(4))
    assert int(model[1].num_batches_tracked) == 0
    model.zero_grad()
    model(torch.randn(2, 3, 8, 8)).sum().backward()
    assert np.isfinite(gradient_norm(model))
