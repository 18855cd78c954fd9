"""Saving and loading trained models as a folder: config.json + weights.h5 (+ metrics, plots).

Weights are stored apart from the architecture: loading rebuilds the model from its spec with
the same builder, so a saved model never depends on (de)serializing custom QKeras objects.
"""
import json
from dataclasses import asdict, dataclass, fields
from pathlib import Path

from neurocodec.errors import NeurocodecError
from neurocodec.files import commit_dir, save_with_atomic, staging_dir, write_bytes_atomic, write_json_atomic  # noqa: F401  (the one staging pair)
from neurocodec.train.cae import CaeSpec, build_cae


def write_json(path: Path, obj) -> None:
    """Write JSON atomically (temp file then rename): no partial file on failure."""
    write_json_atomic(path, obj)


def read_json(path: Path):
    try:
        with open(path) as f:
            return json.load(f)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise NeurocodecError(f"{path}: corrupt or truncated JSON ({exc})") from None


def save_cae(folder: Path, spec: CaeSpec, autoencoder, meta: dict) -> None:
    """Write config.json and weights.h5 of a cae into `folder` (an existing staging folder)."""
    folder = Path(folder)
    write_json(folder / "config.json", {"family": "cae", "spec": spec.to_dict(), **meta})
    save_with_atomic(folder / "weights.h5", autoencoder.save_weights)


class MissingModelError(NeurocodecError, FileNotFoundError):
    """No trained model folder at the path (still a FileNotFoundError for older callers)."""


def read_family_config(model_dir, family: str, train_hint: str | None = None) -> dict:
    """config.json of a trained `family` model folder: the one check every family's loader does
    (missing folder/config, unreadable JSON, another family)."""
    model_dir = Path(model_dir)
    config_path = model_dir / "config.json"
    if not config_path.is_file():
        raise MissingModelError(f"{model_dir} is not a trained model folder (no config.json); train one with "
                                f"`{train_hint or 'neurocodec train ' + family}`")
    meta = read_json(config_path)
    name = (meta.get("family") or meta.get("model")) if isinstance(meta, dict) else None
    if name != family:
        raise NeurocodecError(f"{model_dir} holds a {name!r} model, not {family}")
    return meta


def spec_to_dict(spec) -> dict:
    """asdict of a frozen spec dataclass with its tuples as lists (JSON)."""
    return {k: list(v) if isinstance(v, tuple) else v for k, v in asdict(spec).items()}


def spec_from_dict(cls, d: dict):
    """Inverse of spec_to_dict: lists become tuples where the field is a tuple by default."""
    tuples = {f.name for f in fields(cls) if isinstance(f.default, tuple)}
    return cls(**{k: tuple(v) if k in tuples and isinstance(v, list) else v for k, v in d.items()})


def write_trained_files(folder: Path, model, history: dict, metrics: dict, tflite: bytes | None = None,
                        weights: str = "weights.h5") -> None:
    """The files every trained Keras family writes into its (staged) model folder: weights, history,
    metrics and, if given, the int8 TFLite encoder."""
    folder = Path(folder)
    save_with_atomic(folder / weights, model.save_weights)
    write_json_atomic(folder / "history.json", history)
    write_json_atomic(folder / "metrics.json", metrics)
    if tflite is not None:
        write_bytes_atomic(folder / "encoder_int8.tflite", tflite)


def load_cae(model_dir):
    """(spec, autoencoder, encoder, decoder, meta) of a saved cae model folder."""
    model_dir = Path(model_dir)
    config_path = model_dir / "config.json"
    meta = read_family_config(model_dir, "cae", "neurocodec train cae --cr N")
    try:
        spec = CaeSpec.from_dict(meta.pop("spec"))
    except (KeyError, TypeError, ValueError) as exc:
        raise NeurocodecError(f"{config_path}: no valid cae spec ({type(exc).__name__}: {exc})") from None
    autoencoder, encoder, decoder = build_cae(spec)
    weights = model_dir / "weights.h5"
    try:
        autoencoder.load_weights(str(weights))
    except (OSError, ValueError) as exc:  # h5py: truncated / not HDF5; Keras: layer or shape mismatch
        raise NeurocodecError(f"{weights}: corrupt, truncated or not this model's weights ({exc})") from None
    return spec, autoencoder, encoder, decoder, meta


# ----------------------------------------------------------------------------- one load shape
@dataclass
class LoadedModel:
    """What every family's registered loader returns (registry `Family.load`, `registry.load_model`):
    the family, its spec, its Keras models by role and the folder's config.json."""

    family: str
    spec: object
    models: dict  # role -> Keras model, e.g. {"autoencoder", "encoder", "decoder"} or {"generator"}
    config: dict


def load_cae_model(model_dir) -> LoadedModel:
    spec, ae, enc, dec, meta = load_cae(model_dir)
    return LoadedModel("cae", spec, {"autoencoder": ae, "encoder": enc, "decoder": dec}, meta)


# Adapters of the families whose modules belong to other work streams (same shape, their loaders).
def load_vq_cae_model(model_dir) -> LoadedModel:
    from neurocodec.train.vq_training import load_model

    models, spec, cfg = load_model(model_dir)
    return LoadedModel("vq_cae", spec, dict(models), cfg)


def load_stream_model(model_dir) -> LoadedModel:
    from neurocodec.train.stream_codec import load_model

    spec, joint, enc, dec, meta = load_model(model_dir)
    return LoadedModel("stream", spec, {"autoencoder": joint, "encoder": enc, "decoder": dec}, meta)
