"""cocotb testbench of the generated `cae` encoder (run by neurocodec.sim.runner, not by hand).

Reads its configuration from the JSON file named by $NEUROCODEC_COSIM_CONFIG (written by
runner.cosim): the stimulus (.npy, all segments concatenated), the number of segments, the latent
shape, the clock period and the input gap. Streams the samples with a valid/ready handshake,
keeps out_ready high, and writes every output transfer (code, out_index, out_channel, out_last,
simulation time in ps) plus the acceptance time of every input sample to an .npz file that the
Python side compares with the integer reference.

Speed: the clock is cocotb's GPI (C++) clock; the driver waits for `in_ready` with a value-change
trigger instead of polling every edge, and the monitor waits for `out_valid` the same way, so
Python runs only a few times per sample, not every cycle.
"""
import json
import os

import cocotb
import numpy as np

from neurocodec.files import savez_atomic
from cocotb.clock import Clock
from cocotb.triggers import Event, FallingEdge, ReadOnly, RisingEdge, Timer, with_timeout
from cocotb.utils import get_sim_time


def _config(runner: str = "neurocodec.sim.runner") -> dict:
    """The JSON configuration the runner wrote for this simulation (also read by tb_cae_layers.py)."""
    path = os.environ.get("NEUROCODEC_COSIM_CONFIG")
    if not path:
        raise RuntimeError(f"NEUROCODEC_COSIM_CONFIG is not set: run this testbench through {runner}")
    with open(path) as f:
        return json.load(f)


async def drive_stream(clk, valid, ready, data, x: np.ndarray, gap: int, period_ns: float,
                       accept_ps: np.ndarray) -> None:
    """Offer the values of x one after the other on a valid/ready input (handles of the DUT's
    valid, ready and data signals); accept_ps[i] = simulation time at which x[i] was accepted.
    Also used by the block-level testbench (tb_cae_layers.py) on each layer module's ports."""
    n = len(x)
    i = 0
    data.value = int(x[0])
    valid.value = 1
    while i < n:
        await ReadOnly()
        if ready.value != 1:
            await RisingEdge(ready)  # ready changes only after a clock edge
            continue
        await RisingEdge(clk)  # valid & ready at this edge: sample i accepted
        accept_ps[i] = get_sim_time("ps")
        i += 1
        if i == n:
            valid.value = 0
            break
        if gap > 1:
            valid.value = 0
            await Timer(gap * period_ns - period_ns / 2, "ns")  # to the falling edge before the slot
            valid.value = 1
        data.value = int(x[i])


async def _drive(dut, x: np.ndarray, gap: int, period_ns: float, accept_ps: np.ndarray) -> None:
    await drive_stream(dut.clk, dut.in_valid, dut.in_ready, dut.in_data, x, gap, period_ns, accept_ps)


async def _monitor(dut, total: int, rec: dict, done: Event) -> None:
    clk = dut.clk
    got = 0
    while got < total:
        await ReadOnly()
        if dut.out_valid.value == 1:  # out_ready is held high: transferred at the next edge
            rec["data"][got] = dut.out_data.value.to_signed()
            rec["index"][got] = dut.out_index.value.to_unsigned()
            rec["channel"][got] = dut.out_channel.value.to_unsigned()
            rec["out_last"][got] = int(dut.out_last.value)
            if "mut_data" in rec:  # mutation wrapper (sim/mutation.py): every mutant's output
                v = dut.mut_data.value.to_unsigned()
                ob = rec["out_bits"]
                for i in range(rec["mut_data"].shape[1]):
                    u = (v >> (i * ob)) & ((1 << ob) - 1)
                    rec["mut_data"][got, i] = u - (1 << ob) if u >> (ob - 1) else u
                sync = dut.mut_sync.value.to_unsigned()
                for i in range(rec["mut_sync"].shape[1]):
                    rec["mut_sync"][got, i] = (sync >> i) & 1
            await RisingEdge(clk)
            rec["out_time_ps"][got] = get_sim_time("ps")
            got += 1
        else:
            await RisingEdge(dut.out_valid)
    done.set()


@cocotb.test()
async def encode_segments(dut):
    """Stream all segments through the encoder and record every latent value."""
    cfg = _config()
    x = np.load(cfg["stimulus"]).astype(np.int64)
    n_seg, seg = cfg["n_segments"], cfg["segment_length"]
    assert x.size == n_seg * seg, f"stimulus has {x.size} samples, expected {n_seg} x {seg}"
    total = n_seg * cfg["latent_len"] * cfg["latent_channels"]
    period = float(cfg["clock_ns"])

    dut.rst.value = 1
    dut.in_valid.value = 0
    dut.in_data.value = 0
    dut.out_ready.value = 1
    Clock(dut.clk, period, "ns").start()
    await Timer(4 * period, "ns")
    await FallingEdge(dut.clk)
    dut.rst.value = 0
    await RisingEdge(dut.clk)

    accept_ps = np.zeros(x.size, dtype=np.int64)
    rec = {
        "data": np.zeros(total, np.int64),
        "index": np.zeros(total, np.int64),
        "channel": np.zeros(total, np.int64),
        "out_last": np.zeros(total, np.int64),
        "out_time_ps": np.zeros(total, np.int64),
    }
    n_mut = int(cfg.get("n_mutants", 0))
    if n_mut:
        rec["mut_data"] = np.zeros((total, n_mut), np.int64)
        rec["mut_sync"] = np.zeros((total, n_mut), np.int64)
        rec["out_bits"] = len(dut.out_data.value)
    done = Event()
    cocotb.start_soon(_monitor(dut, total, rec, done))
    cocotb.start_soon(_drive(dut, x, int(cfg["input_gap"]), period, accept_ps))
    await with_timeout(done.wait(), cfg["timeout_cycles"] * period, "ns")
    await RisingEdge(dut.clk)
    end_ps = get_sim_time("ps")
    rec.pop("out_bits", None)
    savez_atomic(cfg["output"], accept_time_ps=accept_ps, end_time_ps=np.int64(end_ps), **rec)
    dut._log.info("encoded %d segments: %d latent values, %d ns simulated", n_seg, total, end_ps // 1000)
