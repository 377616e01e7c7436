"""Training presets reach the engine: the default one carries its defence, seed-study none."""

from types import SimpleNamespace

from backend.services.training import DEFAULT_PRESET, PRESETS
from worker.ml.classmap import DEFAULT_PROJECT_CLASSES
from worker.training import build_config


def _config(tmp_path, params):
    ctx = SimpleNamespace(params=params, work_dir=tmp_path)
    return build_config(ctx, [dict(c) for c in DEFAULT_PROJECT_CLASSES], None)


def test_the_default_preset_pulls_toward_the_base_and_keeps_the_best_validation(tmp_path):
    assert DEFAULT_PRESET == "generalise"
    config = _config(tmp_path, dict(PRESETS[DEFAULT_PRESET]))
    assert (config.l2sp_weight, config.select, config.distill_weight) == (0.01, "best_val", 0.0)
    assert config.ema_decay == 0.0 and not config.freeze_bn
    assert (config.batch_size, config.iterations, config.crop_size) == (8, 24, 768)


def test_the_seed_study_preset_is_the_seed_recipe_unchanged(tmp_path):
    config = _config(tmp_path, dict(PRESETS["seed-study"]))
    assert (config.ema_decay, config.select, config.distill_weight) == (0.0, "best_val", 0.0)
    assert (config.l2sp_weight, config.freeze_bn) == (0.0, False)


def test_a_job_may_override_one_defence(tmp_path):
    config = _config(tmp_path, {**PRESETS[DEFAULT_PRESET], "ema_decay": 0.9, "select": "last"})
    assert (config.ema_decay, config.select, config.l2sp_weight) == (0.9, "last", 0.01)
