# neurocodec: train -> quantize -> hls -> firmware -> sim, every stage also callable from Python.
# `make demo` sets everything up and runs the main job on bundled data; `make test` runs the tests.
SHELL := /bin/bash
PY := .venv/bin/python
NC := .venv/bin/neurocodec
OUT ?= out
MODEL ?= cae_cr64
EPOCHS ?= 200
SETUP_STAMP := .venv/.stamp-setup
export NEUROCODEC_OUT := $(abspath $(OUT))

.PHONY: report-tflite hls-all report-hw-all setup demo test hls rtl cosim report-hw export-tflite evaluate report-cae report-vq report-vq-rdo report-gamma report-spectro report-lfp bench clean

setup: $(SETUP_STAMP)
$(SETUP_STAMP): pyproject.toml scripts/setup.sh
	bash scripts/setup.sh
	touch $@

# Main job on bundled real data (locust tetrode, 15 kHz): train the CR 64 cae, encode + decode the
# recording with the bit-exact integer encoder and write a report, then the hardware path.
demo: setup
	$(MAKE) $(OUT)/models/cae_cr64/config.json EPOCHS=60
	$(NC) evaluate --model-dir $(OUT)/models/cae_cr64
	$(MAKE) hls MODEL=cae_cr64
	$(MAKE) cosim MODEL=cae_cr64
	$(MAKE) report-hw MODEL=cae_cr64

test: setup
	$(PY) -m pytest -q

# A trained cae model folder, e.g. out/models/cae_cr8/config.json (quantized 8-bit, locust data).
$(OUT)/models/cae_cr%/config.json: | setup
	$(NC) train cae --cr $* --data locust --epochs $(EPOCHS)

# Models that are not a cae are trained by their own command.
$(OUT)/models/vq_cae/config.json: | setup
	$(NC) train vq_cae
$(OUT)/models/gamma_cnn/config.json: | setup
	$(NC) train gamma_cnn

hls: $(OUT)/models/$(MODEL)/config.json
	$(NC) hls --model-dir $(OUT)/models/$(MODEL)

# hls4ml project + bit-exact C simulation for every CR of the cae, summarized in docs/hls_cae.md.
hls-all: setup
	for cr in 2 4 8 16 32 64 128; do $(MAKE) hls MODEL=cae_cr$$cr || exit 1; done
	$(NC) hls-summary --docs docs

rtl: $(OUT)/models/$(MODEL)/config.json
	$(NC) rtl --model-dir $(OUT)/models/$(MODEL)

# the co-simulation compares the RTL with the hls4ml C simulation too: build it first if missing
cosim: $(OUT)/models/$(MODEL)/config.json
	[ -f $(OUT)/hls/$(MODEL)/csim_output_codes.npy ] || $(MAKE) hls MODEL=$(MODEL)
	$(NC) cosim --model-dir $(OUT)/models/$(MODEL)

report-hw: $(OUT)/models/$(MODEL)/config.json
	$(NC) report-hw --model-dir $(OUT)/models/$(MODEL) --docs docs

export-tflite: $(OUT)/models/$(MODEL)/config.json
	$(NC) export-tflite --model-dir $(OUT)/models/$(MODEL)

# TFLite int8 exports of CR 8, 32, 64 with their agreement with QKeras, in docs/tflite_cae.md.
report-tflite: setup
	for cr in 8 32 64; do $(MAKE) $(OUT)/models/cae_cr$$cr/config.json && $(NC) export-tflite --model-dir $(OUT)/models/cae_cr$$cr --data recording || exit 1; done
	$(NC) tflite-summary --docs docs

evaluate: $(OUT)/models/$(MODEL)/config.json
	$(NC) evaluate --model-dir $(OUT)/models/$(MODEL)

# Reports that write tables and figures into docs/ (minutes to tens of minutes; not in CI).
report-cae: setup
	$(PY) reports/cae.py --docs docs

report-hw-all: setup
	for cr in 8 32 64; do $(MAKE) report-hw MODEL=cae_cr$$cr || exit 1; done

# vq_cae versus PCA/DWT/CS (same bits) judged by SNDR and an HDBSCAN sorter, on SpikeInterface ground truth
# (two probe layouts, three noise levels), our generator and the locust tetrode. Trains the missing models
# (the recipes in reports/vq_cae.py; 10-20 min each on 2 cores), then about 45 min of evaluation; the datasets
# run in parallel.
report-vq: setup
	($(PY) reports/vq_cae.py --data si --no-doc --duration 15 && \
	 $(PY) reports/vq_cae.py --data si_lin --noise 5 --no-doc --duration 15) & p1=$$!; \
	$(PY) reports/vq_cae.py --data synthetic,locust --no-doc --duration 20 & p2=$$!; \
	wait $$p1 && wait $$p2
	$(PY) reports/vq_cae.py --doc-only --docs docs

report-gamma: setup
	$(PY) reports/gamma.py --docs docs

report-spectro: setup
	$(PY) reports/spectro.py --docs docs

report-lfp: setup
	$(PY) reports/lfp.py --docs docs

# Rate-distortion of continuous-recording codecs (issue 11): trains the stream codec and the seed
# cae presets CR 8 and 64 when missing (60 epochs), then runs every baseline and codec on four
# datasets -> docs/rd_continuous.{md,json,png}.
.PHONY: report-rd
$(OUT)/models/stream/config.json: | setup
	OMP_NUM_THREADS=2 nice -n 10 $(NC) train stream
report-rd: setup $(OUT)/models/stream/config.json
	for cr in 8 64; do [ -f $(OUT)/models/cae_cr$$cr/config.json ] || $(MAKE) $(OUT)/models/cae_cr$$cr/config.json EPOCHS=60 || exit 1; done
	OMP_NUM_THREADS=1 nice -n 10 $(PY) reports/rd_continuous.py --docs docs

# Encode/decode speed vs WavPack, roofline, memory, 32 GiB sparse-file streaming (docs/bench.md, ~3 min).
# Decoder fuzzing (container, entropy streams, every registered codec) at 10x the CI size:
# docs/fuzz.json + the summary line and byte-layout table of docs/container.md (a few minutes).
.PHONY: fuzz
fuzz: setup
	OMP_NUM_THREADS=1 nice -n 10 $(PY) -m neurocodec.codec.testing --scale 10 --docs docs

# Coverage vectors + RTL mutation test of a trained cae (all layers, one Verilator build of every
# mutant at system level, one of every layer module + its mutants at block level, Yosys size of the
# saturation logic left out): docs/rtl_mutation.md / .json (tens of minutes for CR 64 on 2 cores).
.PHONY: mutation
mutation: $(OUT)/models/$(MODEL)/config.json
	OMP_NUM_THREADS=1 nice -n 10 $(PY) -m neurocodec.sim.mutation --model-dir $(OUT)/models/$(MODEL) --docs docs

# Variable-rate vq_cae (stages chosen per spike) vs fixed stages and PCA / DWT at equal bits, si family:
# docs/vq_cae_rdo.{md,json}. Trains the si models it needs when missing (as report-vq).
report-vq-rdo: setup
	$(PY) reports/vq_rdo.py --noise 5,10 --no-doc & p1=$$!; \
	$(PY) reports/vq_rdo.py --noise 20 --no-doc & p2=$$!; \
	wait $$p1 && wait $$p2
	$(PY) reports/vq_rdo.py --doc-only --docs docs

bench: setup
	$(MAKE) $(OUT)/models/cae_cr64/config.json EPOCHS=$(if $(filter command line,$(origin EPOCHS)),$(EPOCHS),15)
	$(PY) -m neurocodec.bench --docs docs

clean:
	rm -rf $(OUT)
