"""The picture of a predicted frame: panels capped in width, names kept to their panel."""

import numpy as np

from worker.predict_layout import STRIP, Layout, areas

CLASSES = [
    {"index": 0, "name": "background", "color": [0, 0, 0]},
    {"index": 1, "name": "car", "color": [0, 0, 255]},
    {"index": 2, "name": "traffic sign", "color": [255, 255, 0]},
]


def test_side_by_side_is_capped_and_each_panel_shows_its_prediction():
    image = np.full((90, 160, 3), 200, np.uint8)
    before = np.zeros((90, 160), np.uint8)
    after = np.zeros((90, 160), np.uint8)
    after[:, 80:] = 1  # the right half of the frame is car
    layout = Layout(160, 90, ["a base model with a long name", "after"], CLASSES, max_width=160)
    assert (layout.panel_w, layout.panel_h) == (80, 45)
    assert (layout.width, layout.height) == (160, 45 + 2 * STRIP + 1)  # even for yuv420p
    canvas = layout.compose(image, [before, after], 1.0)
    assert canvas.shape == (layout.height, 160, 3)
    left, right = canvas[STRIP : STRIP + 45, :80], canvas[STRIP : STRIP + 45, 80:]
    assert (left == 0).all()  # background everywhere: black at opacity 1
    assert (right[:, :40] == 0).all() and (right[:, 40:] == (0, 0, 255)).all()
    # Half opacity: the frame and the class colour, half and half.
    half = layout.compose(image, [before, after], 0.5)[STRIP : STRIP + 45, 120:]
    assert np.abs(half.astype(int) - (100, 100, 228)).max() <= 1
    # The long name is cut short inside its own panel: the right panel's header starts dark.
    header = canvas[:STRIP]
    assert header[:, 80:86].max() == 24


def test_one_panel_keeps_the_frame_size_and_areas_count_pixels():
    layout = Layout(64, 48, ["only"], CLASSES)
    assert (layout.panel_w, layout.panel_h, layout.width) == (64, 48, 64)
    pred = np.zeros((48, 64), np.uint8)
    pred[:12] = 2
    pred[0, 0] = 255
    assert areas(pred, 3) == [0.75, 0.0, round(767 / 3072, 6)]
