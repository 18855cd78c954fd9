"""Named datasets: two bundled with the repo, the rest under a shared-data root.

Shared root: ``$NEUROCODEC_SHARED_DATA`` if set, else ``<repo>/../shared/data``.
"""
from __future__ import annotations

import os
from pathlib import Path

import neurocodec

from .errors import RecordingError

BUNDLED_ROOT = Path(neurocodec.__file__).resolve().parent / "data"

# name -> (bundled?, relative path, description)
DATASETS: dict[str, tuple[bool, str, str]] = {
    "locust": (True, "locust_tetrode/locust_trial_01.raw",
               "locust antennal-lobe tetrode, 4 ch x 431548 @ 15 kHz, ADC counts (Pouzat)"),
    "mitbih100": (True, "mitbih/100.hea",
                  "MIT-BIH arrhythmia record 100, 2 ch x 650000 @ 360 Hz, mV, beat annotations"),
    "ptb_s0010": (False, "wfdb_sample/s0010_re.hea",
                  "PTB s0010_re, 12 leads + 3 Frank leads x 38400 @ 1 kHz, mV"),
    "biosppy_emg": (False, "biosppy_examples/emg.txt", "BioSPPy EMG, 100 s @ 1 kHz, low activity"),
    "biosppy_emg_1": (False, "biosppy_examples/emg_1.txt",
                      "BioSPPy EMG, 63.9 s @ 1 kHz, activation bursts"),
    "biosppy_ecg": (False, "biosppy_examples/ecg.txt", "BioSPPy ECG, 15 s @ 1 kHz"),
    "biosppy_eeg_ec": (False, "biosppy_examples/eeg_ec.txt",
                       "BioSPPy single-channel EEG, eyes closed, 125 Hz"),
    "biosppy_eeg_eo": (False, "biosppy_examples/eeg_eo.txt",
                       "BioSPPy single-channel EEG, eyes open, 125 Hz"),
    "eeglab": (False, "eeglab_sample/eeglab_data.set",
               "EEGLAB sample, 32 ch x 30504 @ 128 Hz, uV, 154 events"),
    "scipy_ecg": (False, "scipy_ecg/ecg.dat", "scipy ECG (MIT-BIH 208 MLII excerpt), 5 min @ 360 Hz, mV"),
}


def shared_data_root() -> Path:
    """Root of the shared (non-bundled) datasets."""
    env = os.environ.get("NEUROCODEC_SHARED_DATA")
    return Path(env) if env else BUNDLED_ROOT.parent.parent / "shared" / "data"


def dataset_path(name: str) -> Path:
    """Path of the file for dataset ``name`` (raises RecordingError if unknown or absent)."""
    if name not in DATASETS:
        raise RecordingError(f"unknown dataset {name!r}; available: {', '.join(DATASETS)}")
    bundled, rel, _ = DATASETS[name]
    path = (BUNDLED_ROOT if bundled else shared_data_root()) / rel
    if not path.is_file():
        hint = "bundled data missing from the repo" if bundled else (
            "shared data not found; set NEUROCODEC_SHARED_DATA to the shared data folder")
        raise RecordingError(f"dataset {name!r}: {path} does not exist ({hint})")
    return path


def list_datasets() -> dict[str, str]:
    """Dataset names with one-line descriptions."""
    return {name: desc for name, (_, _, desc) in DATASETS.items()}
