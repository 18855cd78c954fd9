"""The vq_cae family's hardware flow entry: encoder + nearest-codeword search in hls4ml.

vq_cae contributes its hardware encoder (`train.vq_cae.build_hw_encoder`: QConv1D / QActivation /
LeakyReLU / Add, then the scores ||c_k||^2 - 2 z.c_k as a 1x1 QConv1D and a `CodewordArgmin`),
its integer reference of the codeword indices (`VqIndexReference` over
`quantize.vq_reference.encode_int`) and one custom hls4ml layer: the argmin, registered through
hls4ml's extension API (CodewordArgmin -> HCodewordArgmin -> nnet::codeword_argmin, C++ in
hls/templates/nnet_codeword_argmin.h: a sequential scan with a strict '<', so ties keep the
lowest index). Types, converter, type guard, C simulation and comparison are the shared flow
(neurocodec.hls.flow); the argmin only adds a type rule ("opaque": it types its own output).
io_parallel only.
"""
from __future__ import annotations

import sys
from importlib import resources
from pathlib import Path

import numpy as np

from neurocodec.errors import UnsupportedError
from neurocodec.hls.config import type_rule
from neurocodec.hls.csim import compile_csim, csim_compare
from neurocodec.hls.flow import (DEFAULT_PART, HardwareTarget, check_stored_reference, convert_model, hls_main,
                                 load_test_vectors)

PROJECT_NAME = "vq_encoder"
IO_TYPE = "io_parallel"


def template_path(name: str) -> Path:
    return Path(str(resources.files("neurocodec.hls") / "templates" / name))


@type_rule("CodewordArgmin")
def _argmin_rule(ctx):
    return None, {}  # opaque: HCodewordArgmin sets its own (unsigned index) output type


class VqIndexReference:
    """IntReference of the vq_cae hardware encoder: input codes (n, window, channels) -> codeword
    indices (n, L), lowest index on ties (quantize.vq_reference.encode_int)."""

    output_frac = 0  # indices are integers

    def __init__(self, enc):
        self.enc = enc
        self.input_frac = enc.input_frac

    def run(self, codes) -> np.ndarray:
        from neurocodec.quantize.vq_reference import encode_int

        c = np.asarray(codes)
        return encode_int(c.reshape(len(c), self.enc.window, self.enc.channels), self.enc)[1]


_REGISTERED: set = set()


def register_argmin_extension(backend_name: str, work_dir: Path | None = None) -> None:
    """Register CodewordArgmin with hls4ml's extension API (once per process and backend)."""
    from neurocodec.train.backend import use_tf_keras_as_keras

    use_tf_keras_as_keras()
    import hls4ml
    from hls4ml.backends.template import FunctionCallTemplate, LayerConfigTemplate
    from hls4ml.model.layers import Layer
    from hls4ml.model.types import IntegerPrecisionType

    if "layer" not in _REGISTERED:
        class HCodewordArgmin(Layer):
            def initialize(self):
                inp = self.get_input_variable()
                n_vec, n_codes = int(self.get_attr("n_vectors")), int(self.get_attr("n_codes"))
                if inp.size() != n_vec * n_codes:
                    raise UnsupportedError("CodewordArgmin input size mismatch")
                bits = max(1, (n_codes - 1).bit_length())
                self.add_output_variable([n_vec], precision=IntegerPrecisionType(width=bits, signed=False))

        def parse_codeword_argmin(keras_layer, input_names, input_shapes, data_reader):
            shape = input_shapes[0]
            if len(shape) != 3:
                raise UnsupportedError(f"CodewordArgmin expects (batch, L, K) scores, got {shape}")
            layer = {"class_name": "HCodewordArgmin", "name": keras_layer["config"]["name"],
                     "n_vectors": int(shape[1]), "n_codes": int(shape[2])}
            if input_names is not None:
                layer["inputs"] = input_names
            return layer, [shape[0], shape[1]]

        hls4ml.converters.register_keras_v2_layer_handler("CodewordArgmin", parse_codeword_argmin)
        hls4ml.model.layers.register_layer("HCodewordArgmin", HCodewordArgmin)
        _REGISTERED.add("layer")
        globals()["_HCodewordArgmin"] = HCodewordArgmin
    if backend_name not in _REGISTERED:
        cls = globals()["_HCodewordArgmin"]
        config_tpl = template_path("codeword_argmin_config.tpl").read_text()
        function_tpl = template_path("codeword_argmin_function.tpl").read_text()

        class ArgminConfigTemplate(LayerConfigTemplate):
            def __init__(self):
                super().__init__(cls)
                self.template = config_tpl

            def format(self, node):
                return self.template.format(**self._default_config_params(node))

        class ArgminFunctionTemplate(FunctionCallTemplate):
            def __init__(self):
                super().__init__(cls, include_header=["nnet_utils/nnet_codeword_argmin.h"])
                self.template = function_tpl

            def format(self, node):
                return self.template.format(**self._default_function_params(node))

        backend = hls4ml.backends.get_backend(backend_name)
        backend.register_template(ArgminConfigTemplate)
        backend.register_template(ArgminFunctionTemplate)
        backend.register_source(template_path("nnet_codeword_argmin.h"))
        _REGISTERED.add(backend_name)


def convert_vq_encoder(hw_model, out_dir, backend: str = "Vitis", part: str = DEFAULT_PART,
                       clock_period_ns: float = 10, tb_inputs=None, tb_outputs=None):
    """The hls4ml project (io_parallel) of a hardware encoder with its argmin layer (shared converter)."""
    return convert_model(hw_model, out_dir, io_type=IO_TYPE, backend=backend, part=part,
                         clock_period_ns=clock_period_ns, project_name=PROJECT_NAME, tb_inputs=tb_inputs,
                         tb_outputs=tb_outputs, extensions=(register_argmin_extension,))


def hls_csim_check(hw_model, enc, input_codes, out_dir, backend: str = "Vitis") -> dict:
    """Convert + compile the C simulation, run it on input codes (n, window, channels) and
    compare the codeword indices with encode_int exactly. Returns the csim report dict."""
    ref = VqIndexReference(enc)
    codes = np.asarray(input_codes, np.int64)
    hls_model = convert_vq_encoder(hw_model, out_dir, backend, tb_inputs=codes / 2.0**enc.input_frac,
                                   tb_outputs=ref.run(codes).astype(np.float64))
    compile_csim(hls_model, Path(out_dir) / "hls4ml_compile.log")
    return csim_compare(hls_model, codes, ref, extra={"check": "codeword indices (encoder + nearest-codeword search)"})


def hardware_target(model_dir, max_vectors: int | None = None) -> HardwareTarget:
    """Trained vq_cae folder -> hardware encoder, index reference, test vectors."""
    from neurocodec.quantize.vq_reference import extract_int_vq_encoder
    from neurocodec.train.vq_cae import build_hw_encoder
    from neurocodec.train.vq_training import load_model

    model_dir = Path(model_dir)
    vectors = load_test_vectors(model_dir, ("input_codes", "indices"), max_vectors)
    models, spec, _ = load_model(model_dir)
    enc = extract_int_vq_encoder(models["encoder"], models["vq"], spec)
    check_stored_reference(model_dir / "int_encoder.json", enc.to_dict(), f"encoder in {model_dir}/weights.h5")
    ref = VqIndexReference(enc)
    codes = vectors["input_codes"]
    stored = {}
    if "indices" in vectors:
        stored["stored_index_mismatches"] = int(np.count_nonzero(ref.run(codes) != vectors["indices"]))
    hw = build_hw_encoder(models["encoder"], enc.codebook, spec)
    return HardwareTarget(hw, ref, codes, project_name=PROJECT_NAME, io_type=IO_TYPE,
                          extensions=(register_argmin_extension,),
                          extra={"model_dir": str(model_dir),
                                 "check": "codeword indices (encoder + nearest-codeword search)"},
                          stored_checks=stored)


def build_vq_hls_for_model_dir(model_dir, out_dir=None, max_vectors: int | None = None,
                               backend: str = "Vitis") -> dict:
    from neurocodec import paths
    from neurocodec.hls.flow import run_flow

    out_dir = Path(out_dir) if out_dir is not None else paths.stage_dir("hls", Path(model_dir).name)
    return run_flow(hardware_target(model_dir, max_vectors), out_dir, backend=backend)


def main(argv=None) -> int:
    """`neurocodec hls --model-dir DIR` for a vq_cae folder."""
    return hls_main("vq_cae", hardware_target, argv, default_io_type=IO_TYPE)


hls_main_vq = main

if __name__ == "__main__":
    sys.exit(main())
