"""Codecs: one interface (abc.Codec), one registry (registry.get_codec), one container bitstream.

`encode_recording` / `decode_codes` are the file-level entry points of the `cae` recording codec.
"""
from neurocodec.codec.abc import Codec
from neurocodec.codec.registry import codec_ids, get_codec, register_codec

__all__ = ["Codec", "get_codec", "register_codec", "codec_ids", "encode_recording", "decode_codes"]


def __getattr__(name):
    # the cae codec loads TensorFlow: import it only when used
    if name in ("encode_recording", "decode_codes"):
        from neurocodec.codec import cae

        return getattr(cae, name)
    raise AttributeError(name)
