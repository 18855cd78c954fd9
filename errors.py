"""One error contract for the whole project.

Every error that a user's input can cause (a bad recording, a corrupt or truncated codes file, a
model folder of the wrong family, an unsupported layer, a failed check) is a `NeurocodecError`
with a message naming the problem. The CLI catches it once and exits 2 with that message; a test
asserts the class, never a bare ValueError.

`NeurocodecError` derives from ValueError so callers that already catch ValueError keep working.
"""


class NeurocodecError(ValueError):
    """Base of every error neurocodec raises on bad input or a failed check."""


class BitstreamError(NeurocodecError):
    """A codes file / bitstream is corrupt, truncated, of another codec or another model."""


class UnsupportedError(NeurocodecError):
    """A verb or stage that a model family does not support, or an unsupported layer."""


class NeurocodecWarning(UserWarning):
    """A questionable but accepted input (e.g. a recording beyond the model's calibrated range);
    the CLI prints it as `neurocodec VERB: warning: MESSAGE`."""


__all__ = ["NeurocodecError", "BitstreamError", "UnsupportedError", "NeurocodecWarning"]
