"""Error type raised for unusable recordings and invalid signal inputs."""


class RecordingError(ValueError):
    """A recording (or array) cannot be loaded or used: missing, corrupt, empty, non-finite..."""
