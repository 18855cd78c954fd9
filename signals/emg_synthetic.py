"""Synthetic paired multi-unit neural data and EMG with known ground truth (for `gamma_cnn`).

Model (all per session, every trial 4 s, trials contiguous in one recording):

1. Latent motor commands z_k(t), k = 1..K (default 4), >= 0: sums of smooth bursts (raised-
   cosine bumps of 0.15-0.8 s at Poisson onsets, log-normal amplitudes; some bursts are shared
   by two commands, i.e. synergies) on a small tonic level.
2. Neural channels (default 27): firing rate

       r_c(t) = softplus(g_c * (W_s[c] . z(t - d_c)) + b_c) + p_c(t)

   with delays d_c in 0-20 ms, a private slow rate p_c unrelated to the EMG, and the mixing
   W_s, gains g_c and offsets b_c changing from session to session (each session re-draws a
   fraction ``session_drift`` of every channel's weights: electrode drift). The raw signal is
   broadband noise with that power, sqrt(r_c) * n_c(t), plus background noise and a
   low-frequency "LFP" that the 300 Hz high-pass of the envelope removes. The envelope pipeline
   therefore recovers ~ sqrt(r_c): a rectifying, compressive function of the commands.
3. Muscle: drive u(t) = sum_k v_k (h_k * z_k)(t) through causal Gamma-shaped filters h_k
   (delays 20-60 ms, peaks 60-160 ms; v_k of both signs = agonist/antagonist), a recruitment
   threshold and expansive power ``a = relu(u - theta) ** 1.5``, then second-order activation
   dynamics (tau 40 ms). Raw EMG = a(t) * band-limited noise (20-450 Hz) + baseline noise.

So the EMG is a causal *nonlinear* function of the neural activity (compression in the
neurons, threshold + expansion in the muscle): a linear decoder cannot capture it, a decoder
with nonlinear feature layers and causal temporal kernels can. The clean activation a(t)
(at 100 Hz, ``truth['activation']``) and the commands (``truth['latent<k>']``) are
returned as ground truth.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np

from .errors import RecordingError
from .paired_data import PairedDataset, PairedRecording, PreprocessConfig, build_dataset


@dataclass(frozen=True)
class SyntheticConfig:
    n_sessions: int = 3
    trials_per_session: int = 40
    trial_s: float = 4.0
    n_channels: int = 27
    n_latents: int = 4
    fs_neural: float = 2000.0
    fs_emg: float = 1000.0
    burst_rate_hz: float = 0.7
    session_drift: float = 0.4
    private_noise: float = 0.3
    background_noise: float = 0.3
    lfp_amplitude: float = 2.0
    emg_threshold: float = 0.35
    emg_noise: float = 0.05
    seed: int = 0

    def to_dict(self):
        return asdict(self)

    def check(self):
        if self.n_sessions < 1 or self.trials_per_session < 5:
            raise RecordingError("need >= 1 session and >= 5 trials per session")
        if self.n_channels < 1 or self.n_latents < 1:
            raise RecordingError("need >= 1 neural channel and >= 1 latent command")
        if self.fs_neural < 1000 or self.fs_emg < 1000:
            raise RecordingError("fs_neural and fs_emg must be >= 1000 Hz (high-pass 300 Hz, EMG band 20-450 Hz)")
        return self


def _softplus(x):
    return np.logaddexp(0.0, x)


def _lowpass_noise(rng, n, fs, fc, shape=()):
    from scipy.signal import butter, sosfilt

    sos = butter(2, fc, "lowpass", fs=fs, output="sos")
    w = rng.standard_normal(shape + (n + int(2 * fs / fc),))
    y = sosfilt(sos, w, axis=-1)[..., -n:]
    return y / (y.std(axis=-1, keepdims=True) + 1e-12)


def latent_commands(rng, n_latents: int, n: int, fs: float, burst_rate_hz: float = 0.7) -> np.ndarray:
    """(K, n) non-negative smooth bursty commands."""
    z = np.zeros((n_latents, n))
    duration = n / fs
    for k in range(n_latents):
        n_b = rng.poisson(burst_rate_hz * duration)
        for _ in range(n_b):
            onset = rng.uniform(-0.5, duration)
            width = rng.uniform(0.15, 0.8)
            amp = rng.lognormal(0.0, 0.5)
            targets = [k] if rng.random() > 0.3 else [k, int(rng.integers(n_latents))]
            i0 = int(max(0, onset * fs))
            i1 = int(min(n, (onset + width) * fs))
            if i1 <= i0:
                continue
            t = (np.arange(i0, i1) / fs - onset) / width
            bump = 0.5 * (1 - np.cos(2 * np.pi * t))
            for j in targets:
                z[j, i0:i1] += amp * bump * (1.0 if j == k else 0.6)
    tonic = 0.1 * (1 + 0.5 * _lowpass_noise(rng, n, fs, 0.2, (n_latents,)))
    return z + np.maximum(tonic, 0)


def gamma_filter(n_taps: int, delay: float, peak: float, fs: float, theta: float = 4.0) -> np.ndarray:
    """Causal unit-area Gamma-shaped impulse response: zero before `delay` s, peak at `peak` s."""
    t = np.arange(n_taps) / fs - delay
    s = np.clip(t, 0, None)
    beta = (theta - 1) / max(peak - delay, 1e-3)
    h = s ** (theta - 1) * np.exp(-beta * s)
    return h / h.sum()


class _Population:
    """Mixing, gains, delays, EMG filters shared across sessions (sessions perturb them)."""

    def __init__(self, cfg: SyntheticConfig, rng):
        C, K = cfg.n_channels, cfg.n_latents
        sparse = rng.random((C, K)) < 0.6
        self.W = rng.normal(0.0, 1.0, (C, K)) * sparse
        self.W[np.arange(C), rng.integers(K, size=C)] += rng.choice([-1.5, 1.5], size=C)
        self.delay_s = rng.uniform(0.0, 0.02, C)
        self.v = np.array([1.0, 0.8, -0.6, 0.5, -0.3, 0.4][:K] + [0.3] * max(0, K - 6))
        self.h_delay = rng.uniform(0.02, 0.06, K)
        self.h_peak = self.h_delay + rng.uniform(0.04, 0.10, K)


def _session_mixing(pop: _Population, cfg: SyntheticConfig, s: int, rng):
    C, K = pop.W.shape
    if s == 0:
        W = pop.W.copy()
    else:
        redraw = rng.random((C, K)) < cfg.session_drift
        W = np.where(redraw, rng.normal(0.0, 1.0, (C, K)), pop.W)
    gain = rng.lognormal(0.0, 0.3, C)
    offset = rng.normal(-1.0, 0.5, C)
    return W, gain, offset


def generate_session(cfg: SyntheticConfig, s: int, pop: _Population, rng) -> PairedRecording:
    """Raw paired recording of session ``s`` (trials_per_session contiguous trials)."""
    duration = cfg.trials_per_session * cfg.trial_s
    n_e = int(round(duration * cfg.fs_emg))
    n_n = int(round(duration * cfg.fs_neural))
    up = cfg.fs_neural / cfg.fs_emg
    z = latent_commands(rng, cfg.n_latents, n_e, cfg.fs_emg, cfg.burst_rate_hz)

    # --- muscle: causal gamma filters -> threshold/power -> activation dynamics
    n_taps = int(0.4 * cfg.fs_emg)
    u = np.zeros(n_e)
    for k in range(cfg.n_latents):
        h = gamma_filter(n_taps, pop.h_delay[k], pop.h_peak[k], cfg.fs_emg)
        u += pop.v[k] * np.convolve(z[k], h)[:n_e]
    a = np.clip(u - cfg.emg_threshold, 0, None) ** 1.5
    from scipy.signal import lfilter

    tau = 0.04 * cfg.fs_emg
    p = np.exp(-1.0 / tau)
    a = lfilter([(1 - p) ** 2], [1, -2 * p, p * p], a)  # critically damped, tau 40 ms
    from scipy.signal import butter, sosfilt

    band = butter(2, [20.0, min(450.0, 0.45 * cfg.fs_emg)], "bandpass", fs=cfg.fs_emg, output="sos")
    carrier = sosfilt(band, rng.standard_normal(n_e))
    carrier /= carrier.std()
    emg = a * carrier + cfg.emg_noise * rng.standard_normal(n_e)

    # --- neurons: delayed commands -> session mixing -> softplus rate -> noise power
    W, gain, offset = _session_mixing(pop, cfg, s, rng)
    t_n = np.arange(n_n) / cfg.fs_neural
    neural = np.empty((cfg.n_channels, n_n))
    private = _lowpass_noise(rng, n_e, cfg.fs_emg, 1.0, (cfg.n_channels,))
    lfp = _lowpass_noise(rng, n_n, cfg.fs_neural, 20.0, (cfg.n_channels,))
    up_idx = np.minimum((np.arange(n_n) / up).astype(np.int64), n_e - 1)  # neural -> EMG sample
    for c in range(cfg.n_channels):
        idx = np.clip(np.floor((t_n - pop.delay_s[c]) * cfg.fs_emg).astype(np.int64), 0, n_e - 1)
        drive = gain[c] * (W[c] @ z[:, idx]) + offset[c]
        rate = _softplus(drive) + cfg.private_noise * _softplus(private[c][up_idx])
        neural[c] = (np.sqrt(rate) * rng.standard_normal(n_n)
                     + cfg.background_noise * rng.standard_normal(n_n)
                     + cfg.lfp_amplitude * lfp[c])
    # ground truth at 100 Hz on the neural time axis
    step = int(round(cfg.fs_emg / 100.0))
    truth = {"activation": a[::step]}  # E|EMG| = a * sqrt(2/pi) before the low-pass
    for k in range(cfg.n_latents):
        truth[f"latent{k}"] = z[k, ::step]
    return PairedRecording(neural.astype(np.float32), cfg.fs_neural, emg.astype(np.float32), cfg.fs_emg,
                           session=f"synthetic_s{s}", truth=truth)


def generate_recordings(cfg: SyntheticConfig = SyntheticConfig()) -> list[PairedRecording]:
    cfg.check()
    rng = np.random.default_rng(cfg.seed)
    pop = _Population(cfg, rng)
    return [generate_session(cfg, s, pop, rng) for s in range(cfg.n_sessions)]


def synthetic_dataset(cfg: SyntheticConfig = SyntheticConfig(),
                      pre: PreprocessConfig = PreprocessConfig()) -> PairedDataset:
    """Generate, pre-process and stack the synthetic sessions (one session in memory at a time)."""
    cfg.check()
    rng = np.random.default_rng(cfg.seed)
    pop = _Population(cfg, rng)
    parts = []
    for s in range(cfg.n_sessions):
        rec = generate_session(cfg, s, pop, rng)
        parts.append(build_dataset([rec], pre))
    x = np.concatenate([p.x for p in parts])
    y = np.concatenate([p.y for p in parts])
    sess = np.concatenate([np.full(len(p.x), i) for i, p in enumerate(parts)])
    trial = np.concatenate([p.trial for p in parts])
    truth = {k: np.concatenate([p.truth[k] for p in parts]) for k in parts[0].truth}
    return PairedDataset(x, y, sess, trial, [p.session_names[0] for p in parts], pre.fs, pre.warmup_s, truth)


__all__ = ["SyntheticConfig", "latent_commands", "gamma_filter", "generate_session",
           "generate_recordings", "synthetic_dataset"]
