"""hls4ml projects of quantized encoders, bit-exact with the integer reference.

``project``: convert_encoder / build_hls_for_model_dir / main (``neurocodec hls``); ``config``:
exact fixed-point types from the QKeras quantizers; ``csim``: g++ C simulation and comparison."""
