"""Saving and loading trained models as a folder: config.json + weights.h5 (+ metrics, plots).

Weights are stored apart from the architecture: loading rebuilds the model from its spec with
the same builder, so a saved model never depends on (de)serializing custom QKeras objects.
"""
import json
import os
import shutil
import tempfile
from pathlib import Path


from neurocodec.files import write_json_atomic
from neurocodec.train.cae import CaeSpec, build_cae


def write_json(path: Path, obj) -> None:
    """Write JSON atomically (temp file then rename): no partial file on failure."""
    write_json_atomic(path, obj)


def read_json(path: Path):
    with open(path) as f:
        return json.load(f)


def staging_dir(final_dir: Path) -> Path:
    """A sibling temp folder to fill before `commit_dir` moves it into place."""
    final_dir = Path(final_dir)
    final_dir.parent.mkdir(parents=True, exist_ok=True)
    return Path(tempfile.mkdtemp(dir=final_dir.parent, prefix=f".{final_dir.name}.tmp"))


def commit_dir(staged: Path, final_dir: Path) -> Path:
    """Replace final_dir by the fully written staged folder."""
    final_dir = Path(final_dir)
    if final_dir.exists():
        shutil.rmtree(final_dir)
    os.replace(staged, final_dir)
    return final_dir


def save_cae(folder: Path, spec: CaeSpec, autoencoder, meta: dict) -> None:
    """Write config.json and weights.h5 of a cae into `folder` (an existing staging folder)."""
    folder = Path(folder)
    write_json(folder / "config.json", {"family": "cae", "spec": spec.to_dict(), **meta})
    autoencoder.save_weights(str(folder / "weights.h5"))


def load_cae(model_dir):
    """(spec, autoencoder, encoder, decoder, meta) of a saved cae model folder."""
    model_dir = Path(model_dir)
    config_path = model_dir / "config.json"
    if not config_path.is_file():
        raise FileNotFoundError(
            f"{model_dir} is not a trained model folder (no config.json); train one with "
            f"`neurocodec train cae --cr N`"
        )
    meta = read_json(config_path)
    if meta.get("family") != "cae":
        raise ValueError(f"{model_dir} holds a {meta.get('family')!r} model, not a cae")
    spec = CaeSpec.from_dict(meta.pop("spec"))
    autoencoder, encoder, decoder = build_cae(spec)
    autoencoder.load_weights(str(model_dir / "weights.h5"))
    return spec, autoencoder, encoder, decoder, meta
