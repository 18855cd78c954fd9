"""One place that imports TensorFlow / tf-keras / QKeras the way the toolchain needs.

QKeras and hls4ml's QKeras parser need the legacy tf-keras (Keras 2) API: TF_USE_LEGACY_KERAS=1
must be set before TensorFlow is imported (``neurocodec/__init__`` does so), and hls4ml reads
``keras.__version__`` to pick its parser, so ``sys.modules["keras"]`` must be tf_keras while it
converts a QKeras model.
"""
import os
import sys

os.environ.setdefault("TF_USE_LEGACY_KERAS", "1")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")


def keras():
    """The tf-keras module (Keras 2 API) used by every model in neurocodec."""
    import tf_keras

    return tf_keras


def qkeras():
    import qkeras as qk  # noqa: F401  (imports tf with the legacy flag set above)

    return qk


def use_tf_keras_as_keras():
    """Make ``import keras`` resolve to tf_keras (what hls4ml's Keras-2 parser expects)."""
    import tf_keras

    sys.modules["keras"] = tf_keras
    return tf_keras


def set_tf_threads(intra: int, inter: int = 1) -> None:
    """TensorFlow's intra-/inter-op thread counts; once its runtime has started in this process
    they can no longer change, and the running setting is kept (not an error)."""
    import tensorflow as tf

    try:
        tf.config.threading.set_intra_op_parallelism_threads(intra)
        tf.config.threading.set_inter_op_parallelism_threads(inter)
    except RuntimeError:  # TF runtime already initialised
        pass


def set_seed(seed: int) -> None:
    import random

    import numpy as np
    import tensorflow as tf

    random.seed(seed)
    np.random.seed(seed)
    tf.random.set_seed(seed)


def custom_objects() -> dict:
    """Objects needed to deserialize a saved QKeras model."""
    from qkeras.utils import _add_supported_quantized_objects

    objects: dict = {}
    _add_supported_quantized_objects(objects)
    return objects
