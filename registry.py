"""The model-family registry: each family declares, once, what it is and which stages it supports.

A family is a `Family` record: its name, a one-line description, the module that defines it, the
codec id it encodes recordings with (if any), and for each stage verb the entry point
"module:function" taking argv. The CLI (`neurocodec train/report/hls/rtl/cosim/report-hw/
export-tflite/encode/decode/evaluate`), the `make` targets and the parametrized contract test
(tests/test_registry.py) all read this table; a verb a family does not support is refused with a
message naming the verbs it does support (`UnsupportedError`, exit 2), never a crash.

To add a family: write its module (builder, trainer `main`, save/load, integer reference, hardware
model), then add one `Family(...)` entry below. See docs/dev/ARCHITECTURE.md.
"""
from __future__ import annotations

import importlib
import json
from dataclasses import dataclass, field
from pathlib import Path

from neurocodec.errors import NeurocodecError, UnsupportedError

# The stage verbs a family may support (each maps to an entry point taking argv).
STAGES = ("train", "report", "hls", "rtl", "cosim", "report-hw", "export-tflite")


@dataclass(frozen=True)
class Family:
    name: str
    description: str
    module: str
    stages: dict[str, str] = field(default_factory=dict)
    codec: str | None = None  # codec id (neurocodec.codec.registry) for encode/decode/evaluate
    # the family's one save/load pair: load(model_dir) -> train.artifacts.LoadedModel (family, spec,
    # models by role, config); save(...) writes the folder with files.atomic_dir
    save: str | None = None
    load: str | None = None

    def supports(self, verb: str) -> bool:
        if verb in ("encode", "decode", "evaluate"):
            return self.codec is not None
        return verb in self.stages

    def verbs(self) -> list[str]:
        return sorted(self.stages) + (["decode", "encode", "evaluate"] if self.codec else [])

    def entry(self, verb: str):
        """The callable for a stage verb, imported on use (TensorFlow is slow to load)."""
        if verb not in self.stages:
            raise UnsupportedError(
                f"model family {self.name!r} does not support `{verb}`; it supports: {', '.join(self.verbs())}")
        module, func = self.stages[verb].rsplit(":", 1)
        if module.endswith(".py"):  # an experiment script of the source tree's reports/ (not installed)
            return _script_entry(module, func, verb)
        return getattr(importlib.import_module(module), func)


def resolve(target: str):
    """The callable named by "module:function"."""
    module, func = target.rsplit(":", 1)
    return getattr(importlib.import_module(module), func)


def load_model(model_dir):
    """Any trained model folder -> train.artifacts.LoadedModel, through its family's loader."""
    family = family_of_model_dir(model_dir)
    if family.load is None:
        raise UnsupportedError(f"model family {family.name!r} declares no loader")
    return resolve(family.load)(model_dir)


def _script_entry(path: str, func: str, verb: str):
    """`func` of a script under the source tree (e.g. reports/cae.py), loaded from its file."""
    import importlib.util

    script = Path(__file__).resolve().parent / path
    if not script.is_file():
        raise UnsupportedError(f"`{verb}` runs {path} of a neurocodec source checkout; it is not part of the "
                               f"installed package (clone the repository and run `python {path}`)")
    spec = importlib.util.spec_from_file_location(f"neurocodec_{script.stem}_script", script)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return getattr(module, func)


FAMILIES: dict[str, Family] = {f.name: f for f in [
    Family(
        "cae", "1-D conv autoencoder for continuous recordings (seed CR 2..128 table)", "neurocodec.train.cae",
        stages={
            "train": "neurocodec.train.cae_training:main",
            "report": "reports/cae.py:main",
            "hls": "neurocodec.hls.project:main",
            "rtl": "neurocodec.firmware.rtl_cli:main",
            "cosim": "neurocodec.sim.cosim_cli:main",
            "report-hw": "neurocodec.firmware.hw_report:main",
            "export-tflite": "neurocodec.quantize.tflite_runner:main",
        },
        codec="cae",
        save="neurocodec.train.artifacts:save_cae", load="neurocodec.train.artifacts:load_cae_model",
    ),
    Family(
        "vq_cae", "spike-waveform autoencoder, vector-quantized latent, entropy-coded indices", "neurocodec.train.vq_cae",
        stages={
            "train": "neurocodec.train.vq_training:main",
            "hls": "neurocodec.hls.vq_cae:main",
        },  # report: `make report-vq` (reports/vq_cae.py)
        save="neurocodec.train.vq_training:save_model", load="neurocodec.train.artifacts:load_vq_cae_model",
        codec="vq_cae",
    ),
    Family(
        "stream", "spike-aware stream codec: decimated LFP + learned (QKeras) snippet transform coder, entropy coded",
        "neurocodec.train.stream_codec",
        stages={
            "train": "neurocodec.train.stream_codec:main",
            "hls": "neurocodec.train.stream_codec:hls_main",
            "rtl": "neurocodec.firmware.rtl_cli:main",
            "cosim": "neurocodec.sim.cosim_cli:main",
            "report-hw": "neurocodec.firmware.hw_report:main",
        },
        codec="stream",
        save="neurocodec.train.stream_codec:save_model", load="neurocodec.train.artifacts:load_stream_model",
    ),
    Family(
        "gamma_cnn", "causal EMG decoder with Gamma-function kernels", "neurocodec.train.gamma_cnn",
        stages={
            "train": "neurocodec.train.gamma_training:main",
            "report": "reports/gamma.py:main",
            "hls": "neurocodec.hls.gamma_cnn:main",
        },
        save="neurocodec.train.gamma_training:save_model_folder", load="neurocodec.train.gamma_training:load",
    ),
    Family(
        "spectro_cae", "spectrogram autoencoder for ECG/EEG/EMG with UMAP", "neurocodec.train.spectro_cae",
        stages={"train": "neurocodec.train.spectro_cae:main", "report": "reports/spectro.py:main"},
        save="neurocodec.train.spectro_cae:save_model", load="neurocodec.train.spectro_cae:load",
    ),
    Family(
        "lfp_ae", "multichannel LFP autoencoder (pre-trains the WGAN-GP)", "neurocodec.train.lfp_ae",
        stages={"train": "neurocodec.train.lfp_ae:main"},
        save="neurocodec.train.lfp_ae:save_lfp_ae", load="neurocodec.train.lfp_ae:load",
    ),
    Family(
        "lfp_gan", "WGAN-GP initialised from the LFP autoencoder", "neurocodec.train.lfp_gan",
        stages={"train": "neurocodec.train.lfp_gan:main", "report": "reports/lfp.py:main"},
        save="neurocodec.train.lfp_gan:save_gan", load="neurocodec.train.lfp_gan:load",
    ),
]}


def get_family(name: str) -> Family:
    if name not in FAMILIES:
        raise UnsupportedError(f"unknown model family {name!r}; known: {', '.join(sorted(FAMILIES))}")
    return FAMILIES[name]


def families_supporting(verb: str) -> list[str]:
    return [f.name for f in FAMILIES.values() if f.supports(verb)]


def family_of_model_dir(model_dir) -> Family:
    """The family of a trained model folder, read from its config.json."""
    model_dir = Path(model_dir)
    config = model_dir / "config.json"
    if model_dir.is_file():
        raise NeurocodecError(f"{model_dir} is a file, not a trained model folder")
    if not config.is_file():
        raise NeurocodecError(f"{model_dir} is not a trained model folder (no config.json); train one with "
                              f"`neurocodec train <family>`")
    try:
        meta = json.loads(config.read_text())
    except (OSError, ValueError) as exc:
        raise NeurocodecError(f"{config}: unreadable model config ({exc})") from None
    name = meta.get("family") or meta.get("model") if isinstance(meta, dict) else None
    if not name:
        raise NeurocodecError(f"{config}: names no model family")
    return get_family(name)


__all__ = ["Family", "FAMILIES", "STAGES", "get_family", "families_supporting", "family_of_model_dir", "load_model",
           "resolve"]
