"""A Keras callback printing one line per epoch (readable in logs and CI, unlike progress bars)."""
import sys
import time

from neurocodec.train.backend import keras


def epoch_printer(label: str, total_epochs: int, stream=sys.stdout):
    class EpochPrinter(keras().callbacks.Callback):
        def on_train_begin(self, logs=None):
            self._t0 = time.time()

        def on_epoch_end(self, epoch, logs=None):
            logs = logs or {}
            parts = " ".join(f"{k} {v:.5g}" for k, v in logs.items())
            print(f"[{label}] epoch {epoch + 1}/{total_epochs} {parts} ({time.time() - self._t0:.0f} s)", file=stream, flush=True)

    return EpochPrinter()
