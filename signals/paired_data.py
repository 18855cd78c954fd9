"""Paired neural + EMG data for the `gamma_cnn` decoder: common file format, loaders,
pre-processing into 4 s trials, the groups-of-five split and per-session normalisation.

Common raw format (one ``.npz`` file per recording session, ``save_paired_npz``)::

    neural      (n_channels, n_samples)   raw broadband neural signal (any unit)
    fs_neural   scalar                    Hz
    emg         (n_muscles, n_emg) or (n_emg,)   raw EMG (any unit)
    fs_emg      scalar                    Hz
    session     str, optional             session name (default: file stem)
    trial_starts_s  (n_trials,), optional trial onsets in seconds; default: contiguous 4 s windows
    t0_emg_s    scalar, optional          time of the first EMG sample relative to the first
                                          neural sample (default 0: both start together)

All sessions of a data set must have the same number of neural channels (the session-specific
feature layers absorb changes of electrode mixing, not of channel count). ``load_paired_dir``
reads every ``*.npz`` of a folder in name order. ``PairedDataset`` is the pre-processed form the
decoders train on: ``x`` (n_trials, 400, n_channels) neural envelopes and ``y`` (n_trials, 400)
EMG envelope, both at 100 Hz, with a session index and the trial's position in its session.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

from neurocodec.files import savez_atomic

from .envelopes import (ENVELOPE_FS, TRIAL_SECONDS, WARMUP_SECONDS, cut_trials, emg_envelope,
                        loss_mask, neural_envelope)
from .errors import RecordingError
from .validate import check_finite, check_fs, check_nonempty


@dataclass
class PairedRecording:
    """One session of raw paired data (see the module docstring for the file format)."""

    neural: np.ndarray
    fs_neural: float
    emg: np.ndarray
    fs_emg: float
    session: str = "session"
    trial_starts_s: np.ndarray | None = None
    t0_emg_s: float = 0.0
    truth: dict = field(default_factory=dict)  # synthetic ground truth (not saved)

    def __post_init__(self):
        what = f"session {self.session!r}"
        self.neural = np.asarray(check_finite(check_nonempty(self.neural, f"{what} neural"), f"{what} neural"))
        if self.neural.ndim != 2:
            raise RecordingError(f"{what}: neural must be (n_channels, n_samples), got shape {self.neural.shape}")
        emg = np.asarray(check_finite(check_nonempty(self.emg, f"{what} EMG"), f"{what} EMG"))
        if emg.ndim == 1:
            emg = emg[None, :]
        if emg.ndim != 2:
            raise RecordingError(f"{what}: EMG must be (n_muscles, n_samples), got shape {emg.shape}")
        self.emg = emg
        self.fs_neural = check_fs(self.fs_neural, f"{what} fs_neural")
        self.fs_emg = check_fs(self.fs_emg, f"{what} fs_emg")
        if self.trial_starts_s is not None:
            self.trial_starts_s = np.asarray(self.trial_starts_s, np.float64).ravel()
            check_finite(self.trial_starts_s, f"{what} trial_starts_s")

    @property
    def n_channels(self) -> int:
        return self.neural.shape[0]

    @property
    def duration_s(self) -> float:
        return min(self.neural.shape[1] / self.fs_neural, self.t0_emg_s + self.emg.shape[1] / self.fs_emg)


def save_paired_npz(rec: PairedRecording, path) -> Path:
    """Write a session in the common format (atomically: temp file, then rename)."""
    path = Path(path)
    arrays = dict(neural=rec.neural, fs_neural=rec.fs_neural, emg=rec.emg, fs_emg=rec.fs_emg,
                  session=np.str_(rec.session), t0_emg_s=rec.t0_emg_s)
    if rec.trial_starts_s is not None:
        arrays["trial_starts_s"] = rec.trial_starts_s
    return savez_atomic(path, **arrays)


def load_paired_npz(path) -> PairedRecording:
    path = Path(path)
    if not path.is_file():
        raise RecordingError(f"{path}: file not found")
    try:
        with np.load(path, allow_pickle=False) as z:
            missing = [k for k in ("neural", "fs_neural", "emg", "fs_emg") if k not in z.files]
            if missing:
                raise RecordingError(f"{path}: missing key(s) {missing} of the paired format "
                                     "(neural, fs_neural, emg, fs_emg)")
            d = {k: z[k] for k in z.files}
    except (OSError, ValueError) as e:
        if isinstance(e, RecordingError):
            raise
        raise RecordingError(f"{path}: not a readable .npz archive ({e})") from None
    return PairedRecording(
        neural=d["neural"].astype(np.float64), fs_neural=float(d["fs_neural"]),
        emg=d["emg"].astype(np.float64), fs_emg=float(d["fs_emg"]),
        session=str(d["session"]) if "session" in d else path.stem,
        trial_starts_s=d.get("trial_starts_s"), t0_emg_s=float(d.get("t0_emg_s", 0.0)))


def load_paired_dir(folder) -> list[PairedRecording]:
    folder = Path(folder)
    files = sorted(folder.glob("*.npz"))
    if not files:
        raise RecordingError(f"{folder}: no *.npz paired-session files found")
    return [load_paired_npz(f) for f in files]


@dataclass(frozen=True)
class PreprocessConfig:
    neural_highpass_hz: float = 300.0
    neural_sigma_s: float = 0.010
    emg_lowpass_hz: float = 3.0
    emg_highpass_hz: float | None = 20.0
    causal: bool = True
    fs: float = ENVELOPE_FS
    trial_s: float = TRIAL_SECONDS
    warmup_s: float = WARMUP_SECONDS
    muscle: int = 0

    def to_dict(self):
        return asdict(self)


def preprocess_recording(rec: PairedRecording, cfg: PreprocessConfig = PreprocessConfig()):
    """Raw session -> (x (n_trials, T, channels), y (n_trials, T)) envelopes at cfg.fs."""
    if not 0 <= cfg.muscle < rec.emg.shape[0]:
        raise RecordingError(f"session {rec.session!r}: muscle {cfg.muscle} out of range "
                             f"(EMG has {rec.emg.shape[0]} channel(s))")
    xe = neural_envelope(rec.neural, rec.fs_neural, cfg.neural_highpass_hz, cfg.neural_sigma_s,
                         cfg.fs, cfg.causal)
    ye = emg_envelope(rec.emg[cfg.muscle], rec.fs_emg, cfg.emg_lowpass_hz, cfg.emg_highpass_hz,
                      cfg.fs, cfg.causal)
    # align the EMG envelope on the neural time axis
    shift = int(round(rec.t0_emg_s * cfg.fs))
    y_al = np.full(xe.shape[1], np.nan)
    src = np.arange(xe.shape[1]) - shift
    ok = (src >= 0) & (src < ye.shape[0])
    y_al[ok] = ye[src[ok]]
    n_valid = int(np.flatnonzero(ok).max() + 1) if ok.any() else 0
    first = int(np.flatnonzero(ok).min()) if ok.any() else 0
    stacked = np.vstack([xe, y_al[None, :]])
    if rec.trial_starts_s is None:
        stacked = stacked[:, first:n_valid]
        trials = cut_trials(stacked, cfg.fs, cfg.trial_s)
    else:
        trials = cut_trials(stacked, cfg.fs, cfg.trial_s, rec.trial_starts_s)
    if np.isnan(trials).any():
        raise RecordingError(f"session {rec.session!r}: some trials fall outside the EMG recording")
    return trials[:, :, :-1], trials[:, :, -1]


@dataclass
class PairedDataset:
    """Pre-processed trials: x (n, T, C) float32, y (n, T) float32, session (n,), trial (n,)."""

    x: np.ndarray
    y: np.ndarray
    session: np.ndarray
    trial: np.ndarray
    session_names: list[str]
    fs: float = ENVELOPE_FS
    warmup_s: float = WARMUP_SECONDS
    truth: dict = field(default_factory=dict)  # optional ground truth, arrays shaped like y

    def __post_init__(self):
        self.x = np.asarray(self.x, np.float32)
        self.y = np.asarray(self.y, np.float32)
        self.session = np.asarray(self.session, np.int64)
        self.trial = np.asarray(self.trial, np.int64)
        if self.x.ndim != 3:
            raise RecordingError(f"x must be (n_trials, samples, channels), got shape {self.x.shape}")
        if self.y.shape != self.x.shape[:2]:
            raise RecordingError(f"y shape {self.y.shape} does not match x {self.x.shape[:2]}")
        if self.session.shape != (len(self.x),) or self.trial.shape != (len(self.x),):
            raise RecordingError("session and trial must hold one entry per trial")
        check_finite(self.x, "neural envelopes x")
        check_finite(self.y, "EMG envelope y")
        if self.session.min() < 0 or self.session.max() >= len(self.session_names):
            raise RecordingError(f"session indices outside 0..{len(self.session_names) - 1}")

    @property
    def n_channels(self) -> int:
        return self.x.shape[2]

    @property
    def n_samples(self) -> int:
        return self.x.shape[1]

    @property
    def n_sessions(self) -> int:
        return len(self.session_names)

    @property
    def warmup_samples(self) -> int:
        return int(round(self.warmup_s * self.fs))

    def mask(self) -> np.ndarray:
        """(T,) loss weights: 0 in the warm-up second."""
        return loss_mask(self.n_samples, self.fs, self.warmup_s)

    def subset(self, idx) -> "PairedDataset":
        idx = np.asarray(idx)
        truth = {k: v[idx] for k, v in self.truth.items()}
        return PairedDataset(self.x[idx], self.y[idx], self.session[idx], self.trial[idx],
                             list(self.session_names), self.fs, self.warmup_s, truth)

    def save(self, path) -> Path:
        return savez_atomic(path, x=self.x, y=self.y, session=self.session, trial=self.trial,
                            session_names=np.array(self.session_names), fs=self.fs, warmup_s=self.warmup_s,
                            **{f"truth_{k}": v for k, v in self.truth.items()})

    @staticmethod
    def load(path) -> "PairedDataset":
        path = Path(path)
        if not path.is_file():
            raise RecordingError(f"{path}: file not found")
        with np.load(path, allow_pickle=False) as z:
            truth = {k[6:]: z[k] for k in z.files if k.startswith("truth_")}
            return PairedDataset(z["x"], z["y"], z["session"], z["trial"],
                                 [str(s) for s in z["session_names"]], float(z["fs"]),
                                 float(z["warmup_s"]), truth)


def build_dataset(recordings: list[PairedRecording], cfg: PreprocessConfig = PreprocessConfig()) -> PairedDataset:
    """Pre-process every session and stack their trials."""
    if not recordings:
        raise RecordingError("no sessions given")
    n_ch = recordings[0].n_channels
    xs, ys, ss, ts, truth = [], [], [], [], {}
    for i, rec in enumerate(recordings):
        if rec.n_channels != n_ch:
            raise RecordingError(f"session {rec.session!r} has {rec.n_channels} neural channels, "
                                 f"session {recordings[0].session!r} has {n_ch}; all must match")
        x, y = preprocess_recording(rec, cfg)
        xs.append(x)
        ys.append(y)
        ss.append(np.full(len(x), i))
        ts.append(np.arange(len(x)))
        for k, v in rec.truth.items():  # ground truth given at cfg.fs, cut like y
            tr = cut_trials(np.asarray(v)[None, :], cfg.fs, cfg.trial_s, rec.trial_starts_s)[:, :, 0]
            truth.setdefault(k, []).append(tr[: len(x)])
    return PairedDataset(np.concatenate(xs), np.concatenate(ys), np.concatenate(ss), np.concatenate(ts),
                         [r.session for r in recordings], cfg.fs, cfg.warmup_s,
                         {k: np.concatenate(v) for k, v in truth.items()})


def split_groups_of_five(ds: PairedDataset, seed: int = 0) -> dict[str, np.ndarray]:
    """Trials of each session in consecutive groups of five: in every group three go to
    training, one to set A and one to set B (positions drawn at random per group). Trials of an
    incomplete last group go to training. Returns index arrays {'train', 'A', 'B'}."""
    rng = np.random.default_rng(seed)
    out = {"train": [], "A": [], "B": []}
    for s in range(ds.n_sessions):
        idx = np.flatnonzero(ds.session == s)
        idx = idx[np.argsort(ds.trial[idx], kind="stable")]
        n_full = len(idx) // 5
        for g in range(n_full):
            grp = idx[5 * g : 5 * g + 5][rng.permutation(5)]
            out["train"].extend(grp[:3])
            out["A"].append(grp[3])
            out["B"].append(grp[4])
        out["train"].extend(idx[5 * n_full :])
    if not out["A"]:
        raise RecordingError("need at least five trials in a session for the 3/1/1 split")
    return {k: np.sort(np.asarray(v, np.int64)) for k, v in out.items()}


@dataclass
class Normalization:
    """Per-session z-scoring fitted on training trials (warm-up excluded):
    x' = (x - x_mean[s]) / x_std[s] per channel, y' = (y - y_mean[s]) / y_std[s]."""

    x_mean: np.ndarray  # (S, C)
    x_std: np.ndarray
    y_mean: np.ndarray  # (S,)
    y_std: np.ndarray

    def to_dict(self):
        return {k: np.asarray(v).tolist() for k, v in asdict(self).items()}

    @staticmethod
    def from_dict(d):
        return Normalization(**{k: np.asarray(v, np.float64) for k, v in d.items()})

    def apply(self, ds: PairedDataset) -> PairedDataset:
        if self.x_mean.shape[1] != ds.n_channels:
            raise RecordingError(f"normalisation is for {self.x_mean.shape[1]} channels, "
                                 f"data has {ds.n_channels}")
        s = ds.session
        x = (ds.x - self.x_mean[s][:, None, :]) / self.x_std[s][:, None, :]
        y = (ds.y - self.y_mean[s][:, None]) / self.y_std[s][:, None]
        return PairedDataset(x, y, ds.session, ds.trial, list(ds.session_names), ds.fs, ds.warmup_s,
                             dict(ds.truth))

    def y_to_raw(self, y: np.ndarray, session: np.ndarray) -> np.ndarray:
        return y * self.y_std[session][:, None] + self.y_mean[session][:, None]


def fit_normalization(ds: PairedDataset, train_idx) -> Normalization:
    w = ds.warmup_samples
    S, C = ds.n_sessions, ds.n_channels
    xm, xs = np.zeros((S, C)), np.ones((S, C))
    ym, ys = np.zeros(S), np.ones(S)
    train_idx = np.asarray(train_idx)
    for s in range(S):
        idx = train_idx[ds.session[train_idx] == s]
        if len(idx) == 0:
            raise RecordingError(f"session {ds.session_names[s]!r} has no training trials")
        x = ds.x[idx, w:].reshape(-1, C).astype(np.float64)
        y = ds.y[idx, w:].ravel().astype(np.float64)
        xm[s], xs[s] = x.mean(0), x.std(0)
        ym[s], ys[s] = y.mean(), y.std()
        for c in np.flatnonzero(xs[s] == 0):
            raise RecordingError(f"session {ds.session_names[s]!r}: neural channel {c} is constant")
        if ys[s] == 0:
            raise RecordingError(f"session {ds.session_names[s]!r}: EMG envelope is constant")
    return Normalization(xm, xs, ym, ys)


__all__ = [
    "PairedRecording",
    "save_paired_npz",
    "load_paired_npz",
    "load_paired_dir",
    "PreprocessConfig",
    "preprocess_recording",
    "PairedDataset",
    "build_dataset",
    "split_groups_of_five",
    "Normalization",
    "fit_normalization",
]
