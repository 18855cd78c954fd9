"""hls4ml projects of every family's hardware form, bit-exact with its integer reference.

``flow``: the one hardware flow (HardwareTarget, convert_model with the type guard, run_flow,
hls_main); ``config``: exact fixed-point types, one rule per Keras layer class; ``csim``: g++ C
simulation and the bit-exact comparison; ``project`` / ``gamma_cnn`` / ``vq_cae``: what each
family contributes (its model, its IntReference, its test vectors; vq_cae's argmin layer)."""
