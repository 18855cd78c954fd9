"""PNG plots of a trained cae: training curves, a reconstructed window, crossings per threshold."""
from pathlib import Path

import numpy as np

from neurocodec.files import save_with_atomic


def _pyplot():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def plot_training(folder: Path, history: dict, val: np.ndarray, decoded: np.ndarray, metrics: dict, fs: float) -> None:
    plt = _pyplot()
    fig, axes = plt.subplots(1, 3, figsize=(15, 3.8))
    axes[0].semilogy(history["loss"], label="training")
    axes[0].semilogy(history["val_loss"], label="validation")
    axes[0].set(xlabel="epoch", ylabel="MSE (normalized)", title="loss")
    axes[0].legend()
    i = int(np.argmax(val.max(axis=1) - val.min(axis=1)))  # the most active validation window
    t_ms = np.arange(val.shape[1]) / fs * 1e3
    axes[1].plot(t_ms, val[i], lw=0.8, label="original")
    axes[1].plot(t_ms, decoded[i], lw=0.8, label="decoded")
    axes[1].set(xlabel="time (ms)", ylabel="normalized amplitude", title=f"validation window {i}")
    axes[1].legend()
    rows = metrics["crossings"]
    axes[2].bar([r["threshold"] for r in rows], [r["preserved_pct"] for r in rows], width=0.04)
    axes[2].set(xlabel="threshold", ylabel="% crossings preserved", ylim=(0, 100), title="threshold crossings")
    fig.suptitle(f"cae CR {metrics['cr']}: SNR {metrics['snr_db']:.1f} dB, {metrics['crossings_preserved_pct']:.1f} % crossings preserved")
    fig.tight_layout()
    save_with_atomic(Path(folder) / "training.png", lambda tmp: fig.savefig(tmp, dpi=90))
    plt.close(fig)
