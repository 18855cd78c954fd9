"""cocotb testbench of the block-level wrapper (run by neurocodec.sim.block, not by hand).

Every layer module of the encoder sits on its own ports in `<top>_blocks` (firmware/templates/
blocks.v.j2), with its mutants beside it in lockstep. For each layer `l<i>` this testbench streams
that layer's directed vectors (position-major, channel-minor: the order of the layer's input
stream inside the encoder, values as two's complement bit patterns of the layer's input type)
with the same valid/ready driver as the encoder testbench (tb_cae_encoder.drive_stream), keeps
out_ready high and records every output transfer of the original and of every mutant, plus
whether the mutants' handshakes equal the original's. All layers run concurrently (one
simulation). Configuration: the JSON file named by $NEUROCODEC_COSIM_CONFIG.
"""

import cocotb
import numpy as np
from cocotb.clock import Clock
from cocotb.triggers import Event, FallingEdge, ReadOnly, RisingEdge, Timer, with_timeout

from neurocodec.files import savez_atomic
from neurocodec.sim import tb_cae_encoder as _enc_tb


def _config() -> dict:
    return _enc_tb._config("neurocodec.sim.block")


def _signed(u: int, bits: int) -> int:
    return u - (1 << bits) if u >> (bits - 1) else u


async def _monitor(dut, p: str, total: int, n_mut: int, ob: int, rec: dict, done: Event) -> None:
    clk = dut.clk
    valid, data = getattr(dut, f"{p}_out_valid"), getattr(dut, f"{p}_out_data")
    mdata = getattr(dut, f"{p}_mut_data") if n_mut else None
    msync = getattr(dut, f"{p}_mut_sync") if n_mut else None
    got = 0
    while got < total:
        await ReadOnly()
        if valid.value == 1:  # out_ready is held high: transferred at the next edge
            rec["data"][got] = _signed(data.value.to_unsigned(), ob)
            if n_mut:
                v = mdata.value.to_unsigned()
                s = msync.value.to_unsigned()
                for i in range(n_mut):
                    rec["mut_data"][got, i] = _signed((v >> (i * ob)) & ((1 << ob) - 1), ob)
                    rec["mut_sync"][got, i] = (s >> i) & 1
            await RisingEdge(clk)
            got += 1
        else:
            await RisingEdge(valid)
    done.set()


@cocotb.test()
async def layer_blocks(dut):
    """Drive every layer module with its directed vectors and record every output."""
    cfg = _config()
    period = float(cfg["clock_ns"])
    dut.rst.value = 1
    layers = cfg["layers"]
    for b in layers:
        getattr(dut, f"{b['p']}_in_valid").value = 0
        getattr(dut, f"{b['p']}_in_data").value = 0
        getattr(dut, f"{b['p']}_out_ready").value = 1
    Clock(dut.clk, period, "ns").start()
    await Timer(4 * period, "ns")
    await FallingEdge(dut.clk)
    dut.rst.value = 0
    await RisingEdge(dut.clk)
    recs, dones = [], []
    for b in layers:
        x = np.load(b["stimulus"]).astype(np.int64)
        total, n_mut = int(b["n_out"]), int(b["n_mutants"])
        rec = {"data": np.zeros(total, np.int64)}
        if n_mut:
            rec["mut_data"] = np.zeros((total, n_mut), np.int64)
            rec["mut_sync"] = np.zeros((total, n_mut), np.int64)
        done = Event()
        cocotb.start_soon(_monitor(dut, b["p"], total, n_mut, int(b["out_bits"]), rec, done))
        p = b["p"]
        cocotb.start_soon(_enc_tb.drive_stream(dut.clk, getattr(dut, f"{p}_in_valid"), getattr(dut, f"{p}_in_ready"),
                                               getattr(dut, f"{p}_in_data"), x, 0, period, np.zeros(len(x), np.int64)))
        recs.append(rec)
        dones.append(done)
    for done in dones:
        await with_timeout(done.wait(), cfg["timeout_cycles"] * period, "ns")
    await RisingEdge(dut.clk)
    for b, rec in zip(layers, recs):
        savez_atomic(b["output"], **rec)
    dut._log.info("block level: %s", ", ".join(f"{b['p']} {b['n_out']} values" for b in layers))
