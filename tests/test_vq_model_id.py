"""The vq_cae decoder refuses a bitstream of another model id, naming it, as the cae codec does:
a renamed copy of the model folder (same weights hash, other id) is refused, the original is not."""
import shutil

import numpy as np
import pytest

import neurocodec  # noqa: F401
from neurocodec.errors import BitstreamError
from neurocodec.train import vq_training as T
from neurocodec.train.vq_cae import VqCaeSpec

FS = 24000.0
SPEC = VqCaeSpec(window=32, channels=2, filters=4, n_down=2, latent_dim=4, num_codes=8, decoder_filters=8, stages=2)


def _spikes(n, seed):
    t = np.arange(32)
    rng = np.random.default_rng(seed)
    w = rng.uniform(1.0, 3.0, (n, 1, 1))
    x = -np.exp(-0.5 * ((t[None, :, None] - 10) / w) ** 2) * rng.uniform(0.4, 0.9, (n, 1, 2))
    return np.clip(x + rng.normal(0, 0.02, x.shape), -1, 0.99).astype(np.float32)


def test_vq_decoder_refuses_another_model_id(tmp_path):
    from neurocodec.codec.recording import decode_codes, encode_recording
    from neurocodec.signals import Recording

    T._init_threads()
    models, hist = T.train_vq_cae(SPEC, _spikes(400, 0), _spikes(100, 1),
                                  T.TrainConfig(epochs=1, warmup_epochs=1, batch_size=128))
    model = tmp_path / "vq_a"
    T.save_model(model, models, SPEC, 256.0, {"family": "test", "fs": FS}, hist, {}, _spikes(100, 1))
    rng = np.random.default_rng(3)
    data = rng.normal(0, 4.0, (2, int(0.3 * FS)))
    for t0 in range(150, data.shape[1] - 100, 240):
        data[:, t0: t0 + 32] += 150 * _spikes(1, t0)[0].T
    encode_recording(model, Recording(data, FS, "uV", ["a", "b"], "test"), tmp_path / "rec.ncb")
    assert decode_codes(model, tmp_path / "rec.ncb").data.shape == data.shape
    renamed = tmp_path / "vq_b"
    shutil.copytree(model, renamed)
    with pytest.raises(BitstreamError, match=r"encoded with model 'vq_a', not 'vq_b'.*renamed copy"):
        decode_codes(renamed, tmp_path / "rec.ncb")
