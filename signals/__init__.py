"""Recordings: loading, validation, segmentation, scaling and synthetic data."""
from .datasets import dataset_path, list_datasets
from .errors import RecordingError
from .loaders import (load_biosppy_txt, load_eeglab, load_locust_raw, load_npz, load_recording,
                      load_scipy_ecg, load_wfdb, read_mit_annotations, save_npz)
from .recording import Recording
from .scaling import MinMaxScaling, apply_scaling, fit_minmax, invert_scaling
from .segment import resample, segment, train_val_split
from .synthetic import SpikeTruth, synthetic_extracellular

__all__ = [
    "dataset_path", "list_datasets", "RecordingError", "load_biosppy_txt", "load_eeglab",
    "load_locust_raw", "load_npz", "load_recording", "load_scipy_ecg", "load_wfdb",
    "read_mit_annotations", "save_npz", "Recording", "MinMaxScaling", "apply_scaling",
    "fit_minmax", "invert_scaling", "resample", "segment", "train_val_split", "SpikeTruth",
    "synthetic_extracellular",
]
