"""Spectrogram CAE pipeline on small real excerpts: data, 1-epoch training, features, UMAP,
int8 TFLite export vs QKeras, save/load, bad inputs."""
import numpy as np
import pytest

import neurocodec  # noqa: F401
from neurocodec.signals.errors import RecordingError
from neurocodec.train.spectro_cae import (
    CLASSES, SpectroSpec, build_dataset, encoder_features, export_and_compare, images_from_signal,
    limit_threads, load_model, run_tflite, save_model, segments_to_images, train_spectro_cae,
)

limit_threads(1)


@pytest.fixture(scope="module")
def small():
    spec = SpectroSpec.for_band("full")
    data = build_dataset(spec, max_seconds=30, max_per_recording=(8, 3, 3))
    trained = train_spectro_cae(data, epochs=1, batch_size=16, log=None)
    return spec, data, trained


def test_dataset_images_labels_and_contiguous_split(small):
    spec, data, _ = small
    for split in ("train", "val", "test"):
        s = data.split(split)
        assert s.images.shape[1:] == (64, 64, 1) and s.images.dtype == np.float32
        assert 0.0 <= s.images.min() and s.images.max() <= 1.0
        assert len(s.labels) == len(s.groups) == len(s.images)
    assert set(data.train.labels) == set(CLASSES) and set(data.test.labels) == set(CLASSES)
    # held-out windows come strictly after the training windows of the same recording
    for rec in np.unique(data.test.groups):
        train_starts = data.train.starts_s[data.train.groups == rec]
        test_starts = data.test.starts_s[data.test.groups == rec]
        assert train_starts.max() + spec.segment_s <= test_starts.min() + 1e-9
    assert data.counts["eeglab"]["channels"] == 30  # EOG channels left out


def test_training_features_and_separation_run(small):
    from neurocodec.metrics.separation import knn_scores

    spec, data, trained = small
    for key in ("train_mse", "val_mse", "test_mse"):
        assert np.isfinite(trained.metrics[key]) and trained.metrics[key] < 0.2
    assert len(trained.history["val_loss"]) == 1
    f_train = encoder_features(trained.encoder, data.train.images)
    f_test = encoder_features(trained.encoder, data.test.images)
    assert f_train.shape == (len(data.train.images), int(np.prod(spec.latent_shape)))
    scores = knn_scores(f_train, data.train.labels, f_test, data.test.labels, k=3)
    assert 0.0 <= scores["balanced_accuracy"] <= 1.0


def test_umap_projection_shapes(small):
    from neurocodec.metrics.separation import standardize
    from neurocodec.train.spectro_cae import umap_project

    _, data, trained = small
    a, b = standardize(encoder_features(trained.encoder, data.train.images),
                       encoder_features(trained.encoder, data.test.images))
    tr2, te2 = umap_project(a, b, n_neighbors=5)
    assert tr2.shape == (len(a), 2) and te2.shape == (len(b), 2)
    assert np.all(np.isfinite(te2))


def test_tflite_int8_export_agrees_with_qkeras(small):
    _, data, trained = small
    blob, agreement = export_and_compare(trained, data, n_calibration=32)
    assert agreement["size_bytes"] == len(blob) > 10_000
    # float twin == QKeras up to activation rounding (1 LSB = 2**-5)
    assert agreement["float_twin_vs_qkeras_max_abs"] <= 4 * 2.0**-5
    assert agreement["mean_abs_error_lsb"] < 1.5
    assert agreement["p99_abs_error_lsb"] <= 6
    assert agreement["correlation"] > 0.99
    out = run_tflite(blob, data.test.images[:5])
    assert out.shape == (5, 4, 4, 64)


def test_save_and_load_roundtrip(small, tmp_path):
    spec, data, trained = small
    save_model(trained, tmp_path / "m", data)
    for name in ("config.json", "weights.h5", "metrics.json", "history.json", "test_vectors.npz"):
        assert (tmp_path / "m" / name).is_file()
    assert not list((tmp_path / "m").glob("*.tmp"))
    spec2, _, enc2, _, config = load_model(tmp_path / "m")
    assert spec2 == spec and config["family"] == "spectro_cae"
    x = data.test.images[:4]
    np.testing.assert_array_equal(enc2.predict(x, verbose=0), trained.encoder.predict(x, verbose=0))


def test_bad_inputs_raise():
    spec = SpectroSpec.for_band("full")
    x = np.random.default_rng(0).standard_normal(10_000)
    x[123] = np.nan
    with pytest.raises(RecordingError, match="NaN"):
        images_from_signal(x, 1000.0, spec)
    with pytest.raises(RecordingError, match="shorter than one 5-s segment"):
        images_from_signal(np.ones(3000), 1000.0, spec)
    with pytest.raises(RecordingError, match="expected 2560"):
        segments_to_images(np.ones((2, 1000)), spec)
    with pytest.raises(RecordingError, match="constant"):
        segments_to_images(np.ones((1, 2560)), spec)
    imgs = images_from_signal(np.random.default_rng(1).standard_normal(8000), 1000.0, spec, hop_s=1.0)
    assert imgs.shape == (4, 64, 64, 1)  # 8 s at 1 kHz -> 4096 samples at 512 Hz -> 4 windows
    with pytest.raises(ValueError, match="unknown band"):
        SpectroSpec.for_band("mid")
