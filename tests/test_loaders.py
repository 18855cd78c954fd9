"""Loaders on the real files (bundled + shared data) and on deliberately broken inputs."""
from collections import Counter
from pathlib import Path

import numpy as np
import pytest

from neurocodec.signals import (Recording, RecordingError, dataset_path, list_datasets,
                                load_locust_raw, load_recording, load_wfdb,
                                read_mit_annotations, save_npz)
from neurocodec.signals.datasets import shared_data_root

SHARED = shared_data_root()
needs_shared = pytest.mark.skipif(not SHARED.is_dir(), reason="shared data not available")


def test_locust_bundled():
    rec = load_recording("locust")
    assert rec.data.shape == (4, 431548)
    assert rec.fs == 15000.0 and rec.units == "adc_counts"
    assert rec.data.dtype == np.float64
    first = np.fromfile(dataset_path("locust"), "<i2", count=8).reshape(2, 4).T
    np.testing.assert_array_equal(rec.data[:, :2], first)  # interleaving: frame = 4 channels


def test_mitbih100_signals_and_annotations():
    rec = load_recording("mitbih100")
    assert rec.data.shape == (2, 650000) and rec.fs == 360.0 and rec.units == "mV"
    assert rec.channel_names == ["MLII", "V5"]
    # header initial values 995 and 1011 adu, baseline 1024, gain 200 adu/mV
    np.testing.assert_allclose(rec.data[:, 0], [(995 - 1024) / 200, (1011 - 1024) / 200])
    ann = rec.annotations
    assert len(ann["symbol"]) == len(ann["sample"]) == 2274
    assert Counter(ann["symbol"]) == {"N": 2239, "A": 33, "V": 1, "+": 1}
    assert ann["aux"][ann["symbol"].index("+")] == "(N"
    assert np.all(np.diff(ann["sample"]) > 0) and ann["sample"][-1] < 650000


def test_read_mit_annotations_skip_aux_and_end(tmp_path):
    words = [(1 << 10) | 5,                        # N at 5
             59 << 10, 0x0001, 0x0002,             # SKIP +65538 (high word first)
             (5 << 10) | 3,                        # V at 5 + 65538 + 3
             (63 << 10) | 3, 0x4E28, 0x0029,       # AUX "(N)" attached to V
             (28 << 10) | 0, 0]                    # '+' at the same sample, end
    path = tmp_path / "x.atr"
    np.array(words, "<u2").tofile(path)
    ann = read_mit_annotations(path)
    assert ann["sample"].tolist() == [5, 65546, 65546]
    assert ann["symbol"] == ["N", "V", "+"]
    assert ann["aux"] == ["", "(N)", ""]


@needs_shared
def test_ptb_wfdb_format16():
    rec = load_recording("ptb_s0010")
    assert rec.fs == 1000.0 and rec.data.shape[1] == 38400
    # the header lists the 12 standard leads (.dat) and 3 Frank leads (.xyz)
    assert rec.channel_names[:12] == ["i", "ii", "iii", "avr", "avl", "avf",
                                      "v1", "v2", "v3", "v4", "v5", "v6"]
    assert rec.channel_names[12:] == ["vx", "vy", "vz"] and rec.data.shape[0] == 15
    np.testing.assert_allclose(rec.data[:3, 0] * 2000, [-489, -458, 31])
    assert rec.annotations is None


@needs_shared
@pytest.mark.parametrize("name,n,fs", [("biosppy_emg", 100000, 1000.0),
                                       ("biosppy_emg_1", 63880, 1000.0),
                                       ("biosppy_ecg", 15000, 1000.0),
                                       ("biosppy_eeg_ec", 38219, 125.0),
                                       ("biosppy_eeg_eo", 30203, 125.0)])
def test_biosppy(name, n, fs):
    rec = load_recording(name)
    assert rec.data.shape == (1, n) and rec.fs == fs and rec.units == "adc_counts"
    assert rec.data.min() >= 0 and rec.data.max() < 4096  # 12-bit / 10-bit ADC range


@needs_shared
def test_eeglab():
    rec = load_recording("eeglab")
    assert rec.data.shape == (32, 30504) and rec.fs == 128.0 and rec.units == "uV"
    assert rec.channel_names[:2] == ["FPz", "EOG1"]
    flat = np.fromfile(SHARED / "eeglab_sample" / "eeglab_data.fdt", "<f4", count=33)
    np.testing.assert_allclose(rec.data[:, 0], flat[:32])  # column-major: point 0, all channels
    assert rec.data[0, 1] == pytest.approx(flat[32])
    assert len(rec.annotations["sample"]) == 154


@needs_shared
def test_scipy_ecg():
    rec = load_recording("scipy_ecg")
    assert rec.data.shape == (1, 108000) and rec.fs == 360.0 and rec.units == "mV"
    raw = np.load(dataset_path("scipy_ecg"))["ecg"]
    np.testing.assert_allclose(rec.data[0, :10], (raw[:10].astype(float) - 1024) / 200)


def test_list_datasets_has_descriptions():
    ds = list_datasets()
    assert {"locust", "mitbih100", "ptb_s0010", "eeglab", "scipy_ecg"} <= set(ds)
    assert all(isinstance(v, str) and v for v in ds.values())


def test_shared_root_missing(monkeypatch, tmp_path):
    monkeypatch.setenv("NEUROCODEC_SHARED_DATA", str(tmp_path / "nowhere"))
    with pytest.raises(RecordingError, match="shared data not found"):
        dataset_path("eeglab")
    with pytest.raises(RecordingError, match="unknown dataset"):
        dataset_path("nope")


def test_npz_roundtrip(tmp_path):
    rng = np.random.default_rng(1)
    rec = Recording(rng.normal(size=(3, 500)), 2000.0, "uV", ["a", "b", "c"], "test")
    out = save_npz(rec, tmp_path / "rec.npz")
    back = load_recording(out)
    np.testing.assert_array_equal(back.data, rec.data)
    assert (back.fs, back.units, back.channel_names) == (2000.0, "uV", ["a", "b", "c"])


def test_npy_needs_fs(tmp_path):
    np.save(tmp_path / "x.npy", np.arange(10.0))
    with pytest.raises(RecordingError, match="no sampling rate"):
        load_recording(tmp_path / "x.npy")
    assert load_recording(tmp_path / "x.npy", fs=100).data.shape == (1, 10)


def test_truncated_raw(tmp_path):
    path = tmp_path / "bad.raw"
    path.write_bytes(b"\x00" * 8 * 10 + b"\x00\x00")  # one sample short of a full frame
    with pytest.raises(RecordingError, match=r"bad\.raw.*not a multiple of 8"):
        load_recording(path)
    assert load_locust_raw(path, n_channels=1).data.shape == (1, 41)


def test_truncated_wfdb(tmp_path):
    (tmp_path / "r.hea").write_text("r 1 100 50\nr.dat 16 200 16 0 0 0 0 sig\n")
    np.zeros(40, "<i2").tofile(tmp_path / "r.dat")
    with pytest.raises(RecordingError, match="truncated: header says 50 samples.*holds 40"):
        load_wfdb(tmp_path / "r")


def test_wfdb_checksum_detects_corruption(tmp_path):
    src = dataset_path("mitbih100").parent
    for ext in ("hea", "atr"):
        (tmp_path / f"100.{ext}").write_bytes((src / f"100.{ext}").read_bytes())
    raw = bytearray((src / "100.dat").read_bytes())
    raw[3000] ^= 0x01
    (tmp_path / "100.dat").write_bytes(bytes(raw))
    with pytest.raises(RecordingError, match="checksum mismatch"):
        load_recording(tmp_path / "100.hea")


def test_wfdb_212_odd_sample_count(tmp_path):
    # samples 1, -2, 2047 packed as 12-bit pairs; the odd last sample uses 2 bytes
    (tmp_path / "r.hea").write_text("r 1 100 3\nr.dat 212 100(0)/uV 12 0 1 2046 0 x\n")
    (tmp_path / "r.dat").write_bytes(bytes([0x01, 0xF0, 0xFE, 0xFF, 0x07]))
    rec = load_recording(tmp_path / "r.dat")
    np.testing.assert_allclose(rec.data, [[0.01, -0.02, 20.47]])
    assert rec.units == "uV" and rec.fs == 100.0


def test_unparsable_header(tmp_path):
    (tmp_path / "r.hea").write_text("r two 100\n")
    with pytest.raises(RecordingError, match="unparsable WFDB header"):
        load_wfdb(tmp_path / "r")


def test_nan_in_npz(tmp_path):
    data = np.ones((2, 20))
    data[1, [3, 7, 9]] = np.nan
    np.savez(tmp_path / "n.npz", data=data, fs=100.0)
    with pytest.raises(RecordingError, match="contains 3 NaN values"):
        load_recording(tmp_path / "n.npz")


def test_empty_files(tmp_path):
    for name in ("e.raw", "e.txt", "e.npz"):
        (tmp_path / name).write_bytes(b"")
        with pytest.raises(RecordingError, match="empty"):
            load_recording(tmp_path / name)
    (tmp_path / "h.txt").write_text("# Sampling Rate (Hz):= 100\n")
    with pytest.raises(RecordingError, match="empty data"):
        load_recording(tmp_path / "h.txt")


def test_unknown_extension_and_missing_file(tmp_path):
    (tmp_path / "a.wav").write_bytes(b"RIFF")
    with pytest.raises(RecordingError, match=r"a\.wav.*unknown file extension"):
        load_recording(tmp_path / "a.wav")
    with pytest.raises(RecordingError, match=r"missing\.raw.*not found"):
        load_recording(tmp_path / "missing.raw")
    assert issubclass(RecordingError, ValueError)


def test_eeglab_fdt_size_mismatch(tmp_path):
    src = SHARED / "eeglab_sample"
    if not src.is_dir():
        pytest.skip("shared data not available")
    (tmp_path / "eeglab_data.set").write_bytes((src / "eeglab_data.set").read_bytes())
    (tmp_path / "eeglab_data.fdt").write_bytes((src / "eeglab_data.fdt").read_bytes()[:-4])
    with pytest.raises(RecordingError, match="fdt: size mismatch"):
        load_recording(tmp_path / "eeglab_data.set")


def test_recording_validation():
    with pytest.raises(RecordingError, match="sampling rate must be positive"):
        Recording(np.zeros((1, 4)), 0.0, "uV", ["a"], "t")
    with pytest.raises(RecordingError, match=r"expected 2-D \(channels, samples\)"):
        Recording(np.zeros(4), 1.0, "uV", ["a"], "t")
    with pytest.raises(ValueError, match="channel names"):
        Recording(np.zeros((2, 4)), 1.0, "uV", ["a"], "t")
    assert Path(dataset_path("locust")).name == "locust_trial_01.raw"
