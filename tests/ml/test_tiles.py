"""Huge frames are predicted in overlapping tiles: what the model is given is bounded by the tile
size whatever the frame's, the cores cover the frame once, and the stitched prediction is the
whole-frame prediction (exactly for a model whose view is narrower than the margin, within a
small tolerance for ESPNetv2, whose pooling layers see their whole input)."""

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torch import nn

from worker.ml import evaluate as evaluate_module
from worker.ml.data import Sample
from worker.ml.evaluate import evaluate, predict, to_input
from worker.ml.models import build_model
from worker.ml.tiles import ALIGN, DEFAULT_TILING, Tiling, plan_tiles

MEAN, STD = [0.485, 0.456, 0.406], [0.229, 0.224, 0.225]
CPU = torch.device("cpu")


def _coverage(tiles, height, width) -> np.ndarray:
    hits = np.zeros((height, width), np.int32)
    for tile in tiles:
        top, left, bottom, right = tile.core
        hits[top:bottom, left:right] += 1
    return hits


@pytest.mark.parametrize("height,width", [(4000, 6000), (8000, 12000), (2000, 1500)])
def test_windows_are_bounded_by_the_tile_size_not_the_frame(height, width):
    tiles = plan_tiles(height, width)
    t = DEFAULT_TILING
    assert len(tiles) == -(-height // t.tile) * -(-width // t.tile)
    bound = (t.tile + ALIGN + 2 * t.margin) ** 2
    # The same bound (1.8 MP) for every frame size.
    assert max(tile.pixels for tile in tiles) <= bound <= 1_800_000 < height * width
    assert (_coverage(tiles, height, width) == 1).all()
    # One window size for all tiles (the allocator reuses its blocks).
    assert len({(w[2] - w[0], w[3] - w[1]) for w in (tile.window for tile in tiles)}) == 1
    for tile in tiles:
        top, left, bottom, right = tile.core
        w_top, w_left, w_bottom, w_right = tile.window
        # Every core has at least its margin of context, except where the frame ends.
        assert 0 <= w_top <= max(0, top - t.margin) and 0 <= w_left <= max(0, left - t.margin)
        assert height >= w_bottom >= min(height, bottom + t.margin)
        assert width >= w_right >= min(width, right + t.margin)
        assert top % ALIGN == 0 and left % ALIGN == 0


def test_the_6000_by_4000_frame_is_24_tiles_of_at_most_1280_squared():
    tiles = plan_tiles(4000, 6000)
    assert len(tiles) == 24 and max(t.pixels for t in tiles) == 1280 * 1280


def test_frames_up_to_the_limit_are_predicted_whole():
    assert [t.window for t in plan_tiles(1200, 1920)] == [(0, 0, 1200, 1920)]
    assert len(plan_tiles(1201, 2200)) > 1


def _scene(rng, height, width):
    """Yellow and blue boxes (classes 1, 2) on noisy grey."""
    image = np.full((height, width, 3), 90, np.uint8)
    label = np.zeros((height, width), np.uint8)
    for _ in range(max(4, height * width // 2000)):
        y, x = rng.integers(0, height - 8), rng.integers(0, width - 8)
        h, w = rng.integers(10, 40, 2)
        c = int(rng.integers(1, 3))
        image[y : y + h, x : x + w] = (240, 240, 40) if c == 1 else (30, 30, 220)
        label[y : y + h, x : x + w] = c
    noise = rng.normal(0, 10, image.shape)
    return np.clip(image + noise, 0, 255).astype(np.uint8), label


def test_a_local_model_gives_exactly_the_whole_frame_prediction():
    torch.manual_seed(0)
    # Two 5x5 convolutions: each output pixel sees 4 pixels around it, less than the margin.
    model = nn.Sequential(nn.Conv2d(3, 8, 5, padding=2), nn.ReLU(), nn.Conv2d(8, 3, 5, padding=2))
    image, _ = _scene(np.random.default_rng(1), 150, 230)
    whole = predict(model.eval(), image, MEAN, STD, CPU)
    tiling = Tiling(max_pixels=1, tile=64, margin=32)
    tiled = predict(model, image, MEAN, STD, CPU, tiling=tiling)
    assert len(plan_tiles(150, 230, tiling)) == 12
    assert len(np.unique(whole)) == 3
    np.testing.assert_array_equal(tiled, whole)


@pytest.fixture(scope="module")
def espnet():
    """A small ESPNetv2 taught a few steps to tell coloured boxes from grey."""
    torch.manual_seed(0)
    rng = np.random.default_rng(0)
    model = build_model("espnetv2", 3, scale=0.5)
    opt = torch.optim.Adam(model.parameters(), 0.01)
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    for _ in range(40):
        image, label = _scene(rng, 96, 128)
        out = model.train()(to_input(image, MEAN, STD, CPU))
        loss = F.cross_entropy(out, torch.from_numpy(label.astype(np.int64))[None])
        opt.zero_grad()
        loss.backward()
        opt.step()
    torch.set_num_threads(threads)
    return model.eval()


def test_tiled_espnetv2_agrees_with_the_whole_frame_within_tolerance(espnet):
    image, label = _scene(np.random.default_rng(2), 200, 300)
    whole = predict(espnet, image, MEAN, STD, CPU)
    assert len(np.unique(whole)) >= 2  # the model predicts boxes, not a constant
    tiling = Tiling(max_pixels=1, tile=96, margin=32)
    tiled = predict(espnet, image, MEAN, STD, CPU, tiling=tiling)
    assert len(plan_tiles(200, 300, tiling)) == 12
    assert (tiled == whole).mean() >= 0.97
    # Tiling costs no accuracy against the labels (here it gains some).
    assert (tiled == label).mean() >= (whole == label).mean() - 0.005


def test_scoring_gives_the_model_only_tiles(espnet, monkeypatch):
    seen = []
    espnet.register_forward_pre_hook(lambda _m, args: seen.append(tuple(args[0].shape[-2:])))
    small = Tiling(max_pixels=5000, tile=64, margin=32)
    monkeypatch.setattr(evaluate_module, "DEFAULT_TILING", small)
    image, label = _scene(np.random.default_rng(3), 160, 256)
    result = evaluate(espnet, [Sample(image, label, "big")], 3, mean=MEAN, std=STD, device="cpu")
    assert result.predictions[0].shape == (160, 256)
    assert len(seen) == len(plan_tiles(160, 256, small)) == 12
    assert max(h * w for h, w in seen) <= (64 + ALIGN + 2 * 32) ** 2 < 160 * 256
