"""File-level encode / decode of a recording with any family's recording codec.

`encode_recording(model_dir, recording, out)` finds the model folder's family in the registry,
builds its `RecordingCodec`, checks the sampling rate and length, and writes the bitstream
atomically; `decode_codes(model_dir, codes)` reads a bitstream file (refusing folders, missing
files and the old .npz codes format with a clear message) and decodes it into a Recording.
"""
from pathlib import Path

from neurocodec.codec.registry import codec_class
from neurocodec.errors import BitstreamError, NeurocodecError
from neurocodec.files import write_bytes_atomic
from neurocodec.registry import family_of_model_dir


def recording_codec(model_dir):
    """The RecordingCodec of a trained model folder (its family's codec)."""
    family = family_of_model_dir(model_dir)
    if family.codec is None:
        raise NeurocodecError(f"{model_dir} holds a {family.name!r} model, which has no recording codec")
    return codec_class(family.codec).from_model_dir(model_dir)


def parse_options(pairs) -> dict:
    """``["beam=8", "stages=3"]`` -> {"beam": 8, "stages": 3}: values read as JSON, else kept as text."""
    import json

    out = {}
    for pair in pairs or ():
        key, sep, value = str(pair).partition("=")
        if not sep or not key.strip():
            raise NeurocodecError(f"codec option {pair!r} is not KEY=VALUE")
        try:
            out[key.strip()] = json.loads(value)
        except ValueError:
            out[key.strip()] = value
    return out


def with_options(codec, options: dict | None):
    """The codec rebuilt from its config with ``options`` set (only keys of its config; e.g. the
    vq_cae codec's ``stages`` and ``beam``)."""
    from neurocodec.errors import UnsupportedError

    if not options:
        return codec
    cfg = codec.get_config()
    unknown = sorted(set(options) - set(cfg) - {"id"})
    if unknown:
        settable = ", ".join(k for k in cfg if k not in ("id", "model_dir")) or "none"
        raise UnsupportedError(f"codec {codec.codec_id!r} has no option {', '.join(unknown)}; its options: {settable}")
    if "id" in options or "model_dir" in options:
        raise UnsupportedError("the codec id and model folder are set by --model-dir, not by an option")
    try:
        return type(codec).from_config({**cfg, **options})
    except (TypeError, ValueError) as exc:
        raise NeurocodecError(f"codec {codec.codec_id!r}: bad option value ({exc})") from None


def encode_recording(model_dir, recording, out_path, allow_rate_mismatch=False, rescale=False,
                     options: dict | None = None) -> dict:
    """Encode `recording` (Recording, dataset name or file) into the bitstream file `out_path`.

    rescale: fit the codec's input scaling on this recording instead of clipping it to the
    model's calibrated range (codecs with a `rescale` option only). options: codec config keys
    to set (`with_options`)."""
    from neurocodec.errors import UnsupportedError
    from neurocodec.signals import Recording, load_recording

    codec = with_options(recording_codec(model_dir), options)
    if rescale:
        if not hasattr(codec, "rescale"):
            raise UnsupportedError(f"codec {codec.codec_id!r} has no --rescale option")
        codec.rescale = True
    rec = recording if isinstance(recording, Recording) else load_recording(recording)
    if not allow_rate_mismatch and abs(rec.fs - codec.fs) > 1e-6 * codec.fs:
        raise NeurocodecError(
            f"{rec.source}: sampling rate {rec.fs:g} Hz does not match the model's {codec.fs:g} Hz "
            f"(resample first, or pass --allow-rate-mismatch)"
        )
    if rec.n_samples < codec.min_samples:
        raise NeurocodecError(f"{rec.source}: {rec.n_samples} samples, shorter than one "
                              f"{codec.min_samples}-sample window")
    blob, details = codec.encode_recording(rec)
    out_path = write_bytes_atomic(out_path, blob)
    return {
        "source": rec.source,
        "codec": codec.codec_id,
        "codes_file": str(out_path),
        "n_channels": rec.n_channels,
        "n_samples": rec.n_samples,
        "fs": rec.fs,
        "bitstream_bits": 8 * len(blob),
        **details,
    }


def read_codes_file(path) -> bytes:
    path = Path(path)
    if path.is_dir():
        raise NeurocodecError(f"{path}: is a directory, not a codes file")
    if not path.is_file():
        raise NeurocodecError(f"{path}: codes file not found")
    try:
        blob = path.read_bytes()
    except OSError as exc:
        raise NeurocodecError(f"{path}: cannot read codes file ({exc.strerror})") from None
    if blob[:2] == b"PK":
        raise BitstreamError(f"{path}: an .npz codes file of neurocodec 0.1; this version reads only "
                             f"the checked bitstream container: encode the recording again")
    return blob


def decode_codes(model_dir, codes_path):
    """Codes file -> Recording in the original units (decoder of the same model)."""
    codec = recording_codec(model_dir)
    blob = read_codes_file(codes_path)
    try:
        return codec.decode_recording(blob, str(codes_path))
    except BitstreamError as exc:
        raise BitstreamError(f"{codes_path}: {exc}") from None


__all__ = ["recording_codec", "encode_recording", "decode_codes", "read_codes_file"]
