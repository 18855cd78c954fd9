"""Where generated files go: an output folder outside the source tree (default ./out)."""
import os
from pathlib import Path


def out_root() -> Path:
    """$NEUROCODEC_OUT, else ./out in the current directory."""
    return Path(os.environ.get("NEUROCODEC_OUT", "out")).resolve()


def model_dir(name: str) -> Path:
    """Folder of a trained model, e.g. model_dir('cae_cr64') -> out/models/cae_cr64."""
    return out_root() / "models" / name


def stage_dir(stage: str, name: str) -> Path:
    """Folder of a stage's generated files, e.g. stage_dir('hls', 'cae_cr64') -> out/hls/cae_cr64."""
    return out_root() / stage / name


def repo_root() -> Path:
    return Path(__file__).resolve().parent
