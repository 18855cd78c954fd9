"""Error type raised for unusable recordings and invalid signal inputs."""
from neurocodec.errors import NeurocodecError


class RecordingError(NeurocodecError):
    """A recording (or array) cannot be loaded or used: missing, corrupt, empty, non-finite..."""
