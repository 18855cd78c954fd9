"""The codec registry: every codec is found by its `codec_id` (numcodecs' `get_codec`).

Codec classes register themselves with `@register_codec`; the modules that hold them are listed
in `_MODULES` and imported on first lookup, so importing the registry stays cheap (TensorFlow is
loaded only by the codecs that need it).
"""
from __future__ import annotations

import importlib

from neurocodec.errors import UnsupportedError

_REGISTRY: dict[str, type] = {}
# Modules that define codecs, imported lazily on the first lookup of an unknown id.
_MODULES: list[str] = [
    "neurocodec.codec.cae",
    "neurocodec.codec.vq",
    "neurocodec.codec.spike_baselines",
    "neurocodec.codec.continuous_baselines",
    "neurocodec.codec.stream",
]


def register_codec(cls):
    """Class decorator: make `cls` findable by its `codec_id`."""
    cid = getattr(cls, "codec_id", None)
    if not cid or not isinstance(cid, str):
        raise TypeError(f"{cls.__name__} has no codec_id")
    if cid in _REGISTRY and _REGISTRY[cid] is not cls:
        raise TypeError(f"codec id {cid!r} is registered twice ({_REGISTRY[cid].__name__}, {cls.__name__})")
    _REGISTRY[cid] = cls
    return cls


def add_codec_module(module: str) -> None:
    """Declare a module that registers codecs (imported on the first lookup that needs it)."""
    if module not in _MODULES:
        _MODULES.append(module)


def _load_all() -> None:
    for m in list(_MODULES):
        importlib.import_module(m)


def codec_class(codec_id: str) -> type:
    if codec_id not in _REGISTRY:
        _load_all()
    if codec_id not in _REGISTRY:
        raise UnsupportedError(f"unknown codec id {codec_id!r}; known: {', '.join(sorted(_REGISTRY))}")
    return _REGISTRY[codec_id]


def get_codec(config: dict):
    """Codec instance from its config dict ({"id": ..., **parameters})."""
    if not isinstance(config, dict) or "id" not in config:
        raise UnsupportedError(f"a codec config is a dict with an 'id' key, got {config!r}")
    return codec_class(config["id"]).from_config(config)


def codec_ids() -> list[str]:
    _load_all()
    return sorted(_REGISTRY)


__all__ = ["register_codec", "add_codec_module", "codec_class", "get_codec", "codec_ids"]
