"""Augmentations: crop clamping, 255 padding, consistent flips, determinism."""

import numpy as np
import pytest
from PIL import Image

from worker.ml.data import (
    Augment,
    Sample,
    augment,
    batch_indices,
    crop_shape,
    load_sample,
    make_batch,
)

from .conftest import synthetic_samples


def test_crop_is_clamped_to_the_smallest_frame() -> None:
    samples = synthetic_samples(2, 64, 96) + synthetic_samples(1, 80, 70)
    assert crop_shape(samples, 768) == (64, 70)
    assert crop_shape(samples, 32) == (32, 32)


def test_downscaled_frames_are_padded_with_unlabeled() -> None:
    sample = synthetic_samples(1, 64, 96)[0]
    image, mask = augment(
        sample, (64, 96), Augment((0.5, 0.5), 0.0, False), np.random.default_rng(0)
    )
    assert image.shape == (64, 96, 3) and mask.shape == (64, 96)
    assert (mask[32:] == 255).all() and (mask[:, 48:] == 255).all()
    assert (image[32:] == 0).all()
    assert (mask[1:32, :48] != 255).any()


def test_identity_augment_reproduces_the_frame() -> None:
    sample = synthetic_samples(1, 64, 96)[0]
    image, mask = augment(sample, (64, 96), Augment(None, 0.0, False), np.random.default_rng(0))
    np.testing.assert_array_equal(mask, sample.mask)
    np.testing.assert_allclose(image, sample.image / 255, atol=1e-6)


def test_flip_moves_image_and_mask_together() -> None:
    sample = synthetic_samples(1, 64, 96)[0]
    flipped = None
    for seed in range(10):
        image, mask = augment(
            sample, (64, 96), Augment(None, 0.0, True), np.random.default_rng(seed)
        )
        if not np.array_equal(mask, sample.mask):
            flipped = image, mask
            break
    assert flipped is not None, "no flip in 10 draws of p=0.5"
    np.testing.assert_array_equal(flipped[1], sample.mask[:, ::-1])
    np.testing.assert_allclose(flipped[0], sample.image[:, ::-1] / 255, atol=1e-6)


def test_labels_stay_labels_under_scale_and_jitter() -> None:
    sample = synthetic_samples(1, 64, 96)[0]
    for seed in range(5):
        image, mask = augment(sample, (48, 48), Augment(), np.random.default_rng(seed))
        assert set(np.unique(mask)) <= {0, 1, 2, 255}  # nearest-neighbour: no blended ids
        assert image.min() >= 0 and image.max() <= 1


def test_batches_are_deterministic_and_cover_each_epoch() -> None:
    samples = synthetic_samples(5)
    args = (samples, 3, 4, 7, (48, 64), Augment(), [0.5] * 3, [0.25] * 3)
    a_img, a_mask = make_batch(*args)
    b_img, b_mask = make_batch(*args)
    assert a_img.shape == (4, 3, 48, 64) and a_mask.shape == (4, 48, 64)
    assert np.array_equal(a_img.numpy(), b_img.numpy())
    assert np.array_equal(a_mask.numpy(), b_mask.numpy())
    stream = [i for it in range(5) for i in batch_indices(5, 2, it, seed=3)]
    assert sorted(stream[:5]) == list(range(5)) and sorted(stream[5:]) == list(range(5))
    # Another stream of the same iteration is its own deterministic batch.
    other, again = make_batch(*args, stream=1), make_batch(*args, stream=1)
    assert np.array_equal(other[0].numpy(), again[0].numpy())
    assert not np.array_equal(other[0].numpy(), a_img.numpy())


def test_load_sample_and_validation(tmp_path) -> None:
    sample = synthetic_samples(1)[0]
    Image.fromarray(sample.image).save(tmp_path / "f.png")
    Image.fromarray(sample.mask).save(tmp_path / "m.png")
    loaded = load_sample(tmp_path / "f.png", tmp_path / "m.png")
    assert loaded.name == "f"
    np.testing.assert_array_equal(loaded.mask, sample.mask)
    Image.fromarray(sample.image).save(tmp_path / "rgb_mask.png")
    with pytest.raises(ValueError, match="single-channel"):
        load_sample(tmp_path / "f.png", tmp_path / "rgb_mask.png")
    with pytest.raises(ValueError, match="mask"):
        Sample(sample.image, sample.mask[:10])
