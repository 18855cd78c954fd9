"""neurocodec: neural-signal codecs from quantization-aware training to silicon.

Stages, each a subpackage: ``signals`` (recordings, segmentation, scaling, synthetic data),
``metrics``, ``train`` (QKeras models), ``quantize`` (bit-exact integer reference, TFLite),
``hls`` (hls4ml projects), ``firmware`` (Verilog generator, Yosys, power), ``sim`` (cocotb).
"""
import os as _os

# TensorFlow must use the legacy tf-keras (Keras 2) API that QKeras and hls4ml's QKeras parser
# need. This has to be set before TensorFlow is imported anywhere.
_os.environ.setdefault("TF_USE_LEGACY_KERAS", "1")
_os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

__version__ = "0.1.0"
