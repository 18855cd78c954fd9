"""Codecs: one interface (abc.Codec), one registry (registry.get_codec), one container bitstream.

`encode_recording` / `decode_codes` (codec.recording) encode/decode a recording file with the codec of
any model folder's family.
"""
from neurocodec.codec.abc import Codec
from neurocodec.codec.registry import codec_ids, get_codec, register_codec

__all__ = ["Codec", "get_codec", "register_codec", "codec_ids", "encode_recording", "decode_codes"]


def __getattr__(name):
    # the cae codec loads TensorFlow: import it only when used
    if name in ("encode_recording", "decode_codes"):
        from neurocodec.codec import recording

        return getattr(recording, name)
    raise AttributeError(name)
