"""Hardware checks that can fail: coverage vectors found by search against the integer reference
drive every layer into saturation and onto rounding ties, and every mutant of the generated
Verilog (rounding, saturation, weight, bias, padding; sim/mutation.py) produces mismatches.
Also: `neurocodec cosim` enforces the C-simulation comparison and simulates a given Verilog file.

The mutation test uses a small 2-layer encoder (64-sample windows of the real locust recording,
narrow registers so that saturation is reachable in both layers) and one Verilator build for the
original and all 16 mutants, and the block level (sim/block.py: each layer module on its own
ports with directed vectors, one more build) must catch every mutant too; a variant whose first
layer is too weak to saturate the second shows the block level catching what no encoder input
can expose. The coverage tests run the searches on a trained cae (reference only).
"""
import dataclasses
import json
import shutil

import numpy as np
import pytest

from neurocodec.cli import main
from neurocodec.quantize.reference import IntConvLayer, IntEncoder, encode_int
from neurocodec.sim import coverage as cv
from neurocodec.sim.mutation import OPERATORS, make_mutants, run_mutation
from neurocodec.sim.runner import verilator_available

NAME = "test_rtl_mutation_small"
needs_verilator = pytest.mark.skipif(not verilator_available(), reason="Verilator not found")


def _small_encoder() -> IntEncoder:
    rng = np.random.default_rng(11)
    l1 = IntConvLayer(rng.integers(-128, 128, (8, 1, 4)), rng.integers(-600, 600, 4), weight_frac=7, bias_frac=10,
                      in_frac=8, acc_bits=10, acc_frac=8, alpha_num=77, alpha_shift=8, out_bits=8, out_frac=6)
    l2 = IntConvLayer(rng.integers(-60, 61, (3, 4, 3)), rng.integers(-3000, 3000, 3), weight_frac=7, bias_frac=9,
                      in_frac=6, acc_bits=12, acc_frac=9, alpha_num=77, alpha_shift=8, out_bits=8, out_frac=5,
                      stride=1, pad_left=1, pad_right=1)
    return IntEncoder(8, 8, 64, [l1, l2])


def _real_windows(ie: IntEncoder, n: int = 8) -> np.ndarray:
    from neurocodec.signals import load_recording

    x = load_recording("locust").data[0, : 64 * 40]
    x = (x - x.min()) / (x.max() - x.min())
    return np.clip(np.round(x * 256), 0, 255).astype(np.int64).reshape(40, 64)[:n]


def test_coverage_model_is_the_reference():
    ie = _small_encoder()
    codes = np.random.default_rng(0).integers(0, 256, (40, 64))
    assert np.array_equal(cv.forward(codes, ie), encode_int(codes, ie))
    assert np.array_equal(cv.trace(codes, ie)[-1]["y"], encode_int(codes, ie))
    # the modelled mutants change the output somewhere (the weight/padding ones are not modelled)
    assert np.any(cv.forward(codes, ie, (1, "sat_acc")) != encode_int(codes, ie))


def test_coverage_search_hits_saturation_and_ties_in_every_layer_of_a_trained_cae(tiny_cae_dir):
    from neurocodec.firmware.verilog_gen import load_int_encoder

    ie = load_int_encoder(tiny_cae_dir / "int_encoder.json")
    with np.load(tiny_cae_dir / "test_vectors.npz") as z:
        real = np.asarray(z["input_codes"]).reshape(-1, ie.segment_length)[:8]
    allv, rep = cv.coverage_vectors(ie, real, max_evals=3000)
    print(f"\n{rep['n_real']} real + {rep['n_search']} searched vectors; missing {rep['missing']}")
    for row, real_row in zip(rep["per_layer"], rep["per_layer_real_only"]):
        print(row, "\n   real only:", real_row)
    reach = cv.reachable(ie)
    for row, r in zip(rep["per_layer"], reach):
        sat = sum(row[e] for e in cv.EVENTS[:4])
        if any(r[e] for e in cv.EVENTS[:4]):
            assert sat > 0, f"layer {row['layer']}: saturation reachable but not hit: {row}"
        assert row["acc_tie"] > 0 and row["act_tie"] > 0, row
    # the real windows alone saturate fewer registers than the coverage set
    sat_all = sum(row[e] for row in rep["per_layer"] for e in cv.EVENTS[:4])
    sat_real = sum(row[e] for row in rep["per_layer_real_only"] for e in cv.EVENTS[:4])
    assert sat_all > sat_real
    # the interval bounds are sound: no vector ever hits an event they exclude
    for row, r in zip(rep["per_layer"], reach):
        for e in cv.EVENTS:
            if not r[e]:
                assert row[e] == 0, (row, e)


def test_mutants_are_made_from_the_generated_text(tmp_path):
    from neurocodec.firmware.verilog_gen import generate_encoder_verilog

    text = generate_encoder_verilog(_small_encoder(), tmp_path).read_text()
    mutants, skipped = make_mutants(text)
    assert {m.operator for m in mutants} == set(OPERATORS) and not skipped
    assert len(mutants) == 2 * len(OPERATORS)
    for m in mutants:
        assert m.text != text and m.text.count("endmodule") == text.count("endmodule")


@needs_verilator
def test_every_rtl_mutant_is_caught():
    ie = _small_encoder()
    real = _real_windows(ie)
    codes, rep = cv.coverage_vectors(ie, real)
    assert rep["complete"], rep["missing"]
    assert all(v in ("vectors", "search") for v in rep["observable_mutants"].values()), rep["observable_mutants"]
    r = run_mutation(ie, codes, NAME, n_real=len(real), log=print)
    print(json.dumps({k: v for k, v in r.items() if k != "mutants"}))
    assert r["unmutated_mismatches"] == 0 and r["total"] == 16 and not r["not_applicable"]
    survivors = [m["mutant"] for m in r["mutants"] if not m["caught"]]
    assert not survivors, survivors
    # the real windows alone let some mutants through (saturation of layer 1, quarter-LSB bias,
    # half-up rounding): the searched vectors are what catches them
    assert any(m["mismatches_first_vectors"] == 0 for m in r["mutants"])
    for op in OPERATORS:
        assert all(m["caught"] for m in r["mutants"] if m["operator"] == op)
    # block level: the unmutated layer modules equal the layer reference, every mutant is caught
    # there too, and every saturation and tie a layer's input type can reach is hit
    blk = r["block_level"]
    assert all(lay["unmutated_mismatches"] == 0 for lay in blk["layers"])
    assert all(m["block_caught"] for m in r["mutants"]), [m["mutant"] for m in r["mutants"] if not m["block_caught"]]
    for lay in blk["layers"]:
        assert all(lay[e] > 0 for e in lay["reachable"]), lay
        assert lay["acc_tie"] and lay["act_tie"] and any(lay[e] for e in cv.EVENTS[:4])


def _weak_first_layer() -> IntEncoder:
    """The small encoder with a first layer too weak (weights and biases / 4) and a second-layer
    bias too small (/ 8) for any encoder input to saturate layer 2 (interval bound), while its
    own int8 input type does: the case of the deep layers of a trained cae."""
    ie = _small_encoder()
    l1 = dataclasses.replace(ie.layers[0], weights=ie.layers[0].weights // 4, bias=ie.layers[0].bias // 4)
    l2 = dataclasses.replace(ie.layers[1], bias=ie.layers[1].bias // 8)
    return IntEncoder(8, 8, 64, [l1, l2])


@needs_verilator
def test_block_level_catches_saturation_no_encoder_input_reaches():
    ie = _weak_first_layer()
    sys_reach, blk_reach = cv.reachable(ie)[1], cv.reachable(ie, block=True)[1]
    assert not any(sys_reach[e] for e in cv.EVENTS[:4]) and blk_reach["acc_sat_hi"] and blk_reach["act_sat_hi"]
    real = _real_windows(ie)
    r = run_mutation(ie, real, NAME + "_weak", operators=("sat_acc", "sat_act"), layers=[2], n_real=len(real))
    assert r["total"] == 2
    for m in r["mutants"]:
        assert m["mismatches"] == 0 and not m["caught_system"]  # no encoder input shows it (proven)
        assert m["block_caught"] and m["caught"] and not m["equivalent"], m
        assert "no encoder input" in m["note"]
    assert not r["survivors"]


def test_block_vectors_hit_every_reachable_event_and_expose_every_modelled_mutant(tiny_cae_dir, tmp_path):
    """Reference only: on a trained cae, the directed block vectors of every layer hit every event
    the layer's input type can reach, and each modelled mutant changes that layer's output."""
    from neurocodec.firmware.verilog_gen import generate_encoder_verilog, load_int_encoder, plan_encoder
    from neurocodec.sim.block import MODELLED, block_vectors, layer_model

    ie = load_int_encoder(tiny_cae_dir / "int_encoder.json")
    mutants, skipped = make_mutants(generate_encoder_verilog(ie, tmp_path).read_text())
    for key in skipped:  # only saturation the generator left out (proven unreachable) has no site
        li, op = int(key.split(".")[0][1:]), key.split(".")[1]
        r = cv.reachable(ie, block=True)[li - 1]
        assert op in ("sat_acc", "sat_act") and not (r[op[4:] + "_sat_hi"] or r[op[4:] + "_sat_lo"])
    deeper = False
    for li, pl in enumerate(plan_encoder(ie)):
        mine = [m for m in mutants if m.layer == li + 1]
        x, rep = block_vectors(ie, li, pl, mine)
        assert "not found" not in rep["status"].values(), rep
        cov = cv.layer_block_coverage(x, ie.layers[li])
        reach = cv.reachable(ie, block=True)[li]
        assert all(cov[e] > 0 for e in cv.EVENTS if reach[e]), (li, cov)
        for m in mine:
            if m.operator in MODELLED:
                y = layer_model(x, ie.layers[li])["y"]
                assert np.any(layer_model(x, ie.layers[li], m, pl)["y"] != y), m.name
        sys_reach = cv.reachable(ie)[li]
        deeper |= any(reach[e] and not sys_reach[e] for e in cv.EVENTS[:4])
    assert deeper  # some saturation only the block level can reach (why it exists)


@pytest.fixture(scope="module")
def small_model_dir(tmp_path_factory):
    """A model folder for the small encoder (config, int_encoder.json, real test vectors) named like
    the mutation test's simulation, so the cosim CLI reuses its Verilator build."""
    ie = _small_encoder()
    d = tmp_path_factory.mktemp("small") / NAME
    d.mkdir()
    (d / "config.json").write_text(json.dumps({"family": "cae"}))
    (d / "int_encoder.json").write_text(json.dumps(ie.to_dict()))
    real = _real_windows(ie)
    np.savez(d / "test_vectors.npz", input_codes=real)
    hls = d.parent / "hls"
    hls.mkdir()
    np.save(hls / "csim_output_codes.npy", encode_int(real, ie))
    return d, hls


@needs_verilator
def test_cosim_enforces_the_c_simulation_and_simulates_a_given_file(small_model_dir, tmp_path, capsys):
    d, hls = small_model_dir
    base = ["cosim", "--model-dir", str(d), "--out", str(tmp_path / "sim")]
    # no C-simulation output: an error (before any simulation), unless --no-csim
    assert main(base + ["--hls-dir", str(tmp_path / "nohls")]) == 2
    assert "no hls4ml C simulation output" in capsys.readouterr().err
    assert not (tmp_path / "sim").exists()
    assert main(base + ["--hls-dir", str(tmp_path / "nohls"), "--no-csim"]) == 0
    # with the C simulation: equal -> 0, one value off -> 1
    assert main(base + ["--hls-dir", str(hls)]) == 0
    report = json.loads((tmp_path / "sim" / "cosim_report.json").read_text())
    assert report["mismatches_vs_hls_csim"] == 0 and report["mismatches_vs_reference"] == 0
    assert report["n_coverage_vectors"] > 0 and report["coverage"]["complete"]
    layers = report["coverage"]["per_layer"]
    assert len(layers) == 2 and all(row["acc_tie"] and row["act_tie"] for row in layers)
    assert all(any(row[e] for e in cv.EVENTS[:4]) for row in layers)
    out = capsys.readouterr().out
    assert "layer 1: saturations" in out and "layer 2: saturations" in out
    bad = tmp_path / "badhls"
    bad.mkdir()
    codes = np.load(hls / "csim_output_codes.npy")
    codes.flat[5] += 1
    np.save(bad / "csim_output_codes.npy", codes)
    assert main(base + ["--hls-dir", str(bad)]) == 1
    assert json.loads((tmp_path / "sim" / "cosim_report.json").read_text())["mismatches_vs_hls_csim"] == 1
    # --rtl FILE: a mutant file (saturation removed in layer 1) is simulated and fails
    from neurocodec import paths

    mutant = paths.stage_dir("sim", NAME) / "mutants" / "l1.sat_act.v"
    if not mutant.is_file():  # written by run_mutation's non-merged path only: make it here
        from neurocodec.firmware.verilog_gen import generate_encoder_verilog

        text = generate_encoder_verilog(_small_encoder(), tmp_path / "rtl").read_text()
        m = next(m for m in make_mutants(text)[0] if m.name == "l1.sat_act")
        mutant = tmp_path / "l1.sat_act.v"
        mutant.write_text(m.text)
    assert main(base + ["--hls-dir", str(hls), "--rtl", str(mutant)]) == 1
    report = json.loads((tmp_path / "sim" / "cosim_report.json").read_text())
    assert report["mismatches_vs_reference"] > 0 and report["rtl"] == str(mutant.resolve())
    assert main(base + ["--no-csim", "--rtl", str(tmp_path / "missing.v")]) == 2
    shutil.rmtree(tmp_path / "sim")
