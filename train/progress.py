"""The one fit loop of the autoencoder families and its training-log callback.

`fit_autoencoder` (Adam + MSE, early stopping on the validation loss with the best weights
restored, one log line per epoch) is what cae, spectro_cae and lfp_ae train with; `epoch_printer`
is the one per-epoch log callback (readable in logs and CI, unlike progress bars)."""
import sys
import time

import numpy as np

from neurocodec.train.backend import keras


def epoch_printer(label: str, total_epochs: int, stream=sys.stdout, log=None):
    """Keras callback printing `[label] epoch i/N key value ... (t s)`; `log(line)` instead of
    printing to `stream` when given."""
    class EpochPrinter(keras().callbacks.Callback):
        def on_train_begin(self, logs=None):
            self._t0 = time.time()

        def on_epoch_end(self, epoch, logs=None):
            logs = logs or {}
            parts = " ".join(f"{k} {v:.5g}" for k, v in logs.items())
            line = f"[{label}] epoch {epoch + 1}/{total_epochs} {parts} ({time.time() - self._t0:.0f} s)"
            if log is not None:
                log(line)
            else:
                print(line, file=stream, flush=True)

    return EpochPrinter()


def fit_autoencoder(model, train, val, epochs: int, batch_size: int = 32, patience: int = 15,
                    learning_rate: float = 1e-3, label: str | None = None, log=None, verbose: int = 0) -> dict:
    """Compile `model` (Adam(learning_rate), MSE), fit it to reconstruct `train` with early stopping
    on `val` (best weights restored) and return the history {metric: [float per epoch]}.
    label: per-epoch log lines `[label] epoch ...` (None: silent); log: where they go (default stdout)."""
    k = keras()
    model.compile(optimizer=k.optimizers.Adam(learning_rate), loss="mse")
    callbacks = [k.callbacks.EarlyStopping(monitor="val_loss", patience=patience, restore_best_weights=True)]
    if label is not None:
        callbacks.append(epoch_printer(label, int(epochs), log=log))
    hist = model.fit(train, train, validation_data=(val, val), epochs=int(epochs), batch_size=int(batch_size),
                     shuffle=True, callbacks=callbacks, verbose=verbose)
    return {key: [float(v) for v in vals] for key, vals in hist.history.items()}


def best_epoch(history: dict) -> int:
    """1-based epoch of the lowest validation loss (0 without one)."""
    return int(np.argmin(history["val_loss"])) + 1 if history.get("val_loss") else 0


__all__ = ["epoch_printer", "fit_autoencoder", "best_epoch"]
