"""SAIF reader (firmware.saif): a real Verilator `--trace-saif` dump of a 4-bit counter whose
toggle counts are known exactly, plus hand-written SAIF text for the format corners and errors."""
import subprocess
import textwrap

import pytest

from neurocodec.firmware.saif import SaifError, bit_base, parse_saif, parse_saif_text, summarize_toggles

N_COUNT = 40  # clock edges at which the counter counts

COUNTER_V = """
module counter4 (input wire clk, input wire rst, output reg [3:0] q);
  always @(posedge clk) begin
    if (rst) q <= 4'd0; else q <= q + 4'd1;
  end
endmodule
"""

# clock period 10 ns (edges at 5, 15, ...); reset released at 12 ns; the counter counts on the
# N rising edges 15, 25, ..., 5 + 10 N <= 12 + 10 N, then $finish at 12 + 10 N ns.
TB_V = f"""
`timescale 1ns/1ps
module tb;
  reg clk = 1'b0;
  reg rst = 1'b1;
  wire [3:0] q;
  counter4 dut (.clk(clk), .rst(rst), .q(q));
  always #5 clk = ~clk;
  initial begin
    $dumpfile("counter.saif");
    $dumpvars(0, tb);
    #12 rst = 1'b0;
    #{10 * N_COUNT} $finish;
  end
endmodule
"""


@pytest.fixture(scope="module")
def counter_saif(tmp_path_factory):
    from neurocodec.sim.runner import VerilatorNotFound, ensure_verilator

    try:
        exe = ensure_verilator()
    except VerilatorNotFound as exc:
        pytest.skip(str(exc))
    d = tmp_path_factory.mktemp("saif_counter")
    (d / "counter4.v").write_text(COUNTER_V)
    (d / "tb.v").write_text(TB_V)
    cmd = [str(exe), "--binary", "--trace-saif", "-CFLAGS", "-std=c++20", "-j", "1", "--top-module", "tb",
           "-Mdir", "obj", "tb.v", "counter4.v"]  # --binary: timing (#delays) needs C++20 coroutines
    build = subprocess.run(cmd, cwd=d, capture_output=True, text=True, timeout=600)
    assert build.returncode == 0, build.stdout[-2000:] + build.stderr[-2000:]
    run = subprocess.run(["./obj/Vtb"], cwd=d, capture_output=True, text=True, timeout=60)
    assert run.returncode == 0, run.stdout + run.stderr
    return d / "counter.saif"


def test_counter_toggle_counts_exact(counter_saif):
    s = parse_saif(counter_saif)
    assert s.program == "Verilator" and s.timescale_s == pytest.approx(1e-12)
    assert s.duration == (12 + 10 * N_COUNT) * 1000  # ps
    assert s.duration_s == pytest.approx((12 + 10 * N_COUNT) * 1e-9)
    path, dut = s.find("dut")
    assert path == "tb/dut"
    tc = s.toggle_counts("dut")
    assert tc["tb/dut/q[0]"] == N_COUNT  # bit 0 toggles on every counted clock cycle
    assert tc["tb/dut/q[1]"] == N_COUNT // 2
    assert tc["tb/dut/q[2]"] == N_COUNT // 4
    assert tc["tb/dut/q[3]"] == N_COUNT // 8  # wraps at 16: 0->1 at 8, 24, 40; 1->0 at 16, 32
    assert tc["tb/dut/clk"] == 2 * N_COUNT + 2  # edges at 5, 10, ..., 410 ns
    # Verilator starts every signal at 0: the initializer rst = 1 at time 0 counts as a toggle
    assert tc["tb/dut/rst"] == 2
    # durations: q[0] is 1 for one period out of two while counting (N/2 periods of 10 ns)
    q0 = dut.nets["q[0]"]
    assert q0.t1 == N_COUNT // 2 * 10_000 and q0.t0 + q0.t1 == s.duration
    summary = summarize_toggles(s, "dut")
    assert summary.clock_toggles == tc["tb/dut/clk"] and summary.clock_nets == ["tb/dut/clk"]
    data = N_COUNT + N_COUNT // 2 + N_COUNT // 4 + N_COUNT // 8 + 2  # q bits + rst
    assert summary.data_toggles == data and summary.n_nets == 6
    assert summary.toggles_per_second == pytest.approx(data / s.duration_s)
    # the testbench scope repeats the dut's ports: both instances are in the file
    assert s.total_toggles() == 2 * s.total_toggles("dut")


HAND = textwrap.dedent(r"""
    // comment line (ignored)
    (SAIFILE
    (SAIFVERSION "2.0")
    (DIRECTION "backward")
    (DESIGN )
    (PROGRAM_NAME "hand written")
    (DIVIDER / )
    (TIMESCALE 10 ns)
    (DURATION 100)
    (INSTANCE top
      (PORT
        (a (T0 60) (T1 40) (TC 7))
        (clk (T0 50) (T1 50) (TC 20))
      )
      (NET
        (a (T0 60) (T1 40) (TZ 0) (TX 0) (TB 0) (TC 7))
        (w\[1\] (T0 90) (T1 10) (TC 3) (IG 2))
        (mem[2]\[0\] (T0 100) (T1 0) (TC 0))
        (\(odd\) (T0 99) (T1 1) (TC 1))
      )
      (INSTANCE "u_sub"
        (NET (x (T0 1) (T1 99) (TX 0) (TC 5)) /* block comment */ )
        (INSTANCE deeper (NET (y (TC 11))))
      )
    )
    )
""")


def test_hand_written_saif_corners():
    s = parse_saif_text(HAND)
    assert s.program == "hand written" and s.version == "2.0" and s.direction == "backward"
    assert s.timescale_s == pytest.approx(10e-9) and s.duration_s == pytest.approx(1e-6)
    top = s.instances[0]
    assert set(top.nets) == {"a", "clk", "w[1]", "mem[2][0]", "(odd)"}
    assert top.nets["a"].is_port is False  # the NET record wins over the PORT one
    assert top.nets["clk"].is_port is True and top.nets["clk"].tc == 20
    assert top.nets["w[1]"].ig == 2 and top.nets["w[1]"].t1 == 10
    assert s.toggle_counts("deeper") == {"top/u_sub/deeper/y": 11}
    assert s.total_toggles() == 7 + 20 + 3 + 0 + 1 + 5 + 11
    assert s.total_toggles("u_sub") == 16
    summary = summarize_toggles(s, skip=lambda path, inst, net, act: path.endswith("u_sub") and net == "x")
    assert summary.skipped_nets == 1 and summary.clock_toggles == 20 and summary.data_toggles == 7 + 3 + 1 + 11
    assert bit_base("mem[2][0]") == "mem" and bit_base("clk") == "clk"


@pytest.mark.parametrize(
    "text, message",
    [
        ("", "not a SAIF file"),
        ("(SAIFILE (DURATION 10) (INSTANCE t (NET (a (TC 1))))", "open parenthes"),
        ("(SAIFILE (DURATION 10)))", "unbalanced"),
        ("(SAIFILE (TIMESCALE 1ps) (INSTANCE t (NET (a (TC 1)))))", "no DURATION"),
        ("(SAIFILE (DURATION 10))", "no INSTANCE"),
        ("(SAIFILE (DURATION 10) (TIMESCALE 3 parsecs) (INSTANCE t))", "TIMESCALE"),
        ("(SAIFILE (DURATION 10) (INSTANCE t (NET (a (TC many)))))", "expected a number"),
        ("(VCD 1)", "not a SAIF file"),
    ],
)
def test_saif_errors(text, message):
    with pytest.raises(SaifError, match=message):
        parse_saif_text(text)


def test_saif_file_errors(tmp_path):
    with pytest.raises(SaifError, match="not found"):
        parse_saif(tmp_path / "missing.saif")
    (tmp_path / "empty.saif").write_text("  \n")
    with pytest.raises(SaifError, match="empty"):
        parse_saif(tmp_path / "empty.saif")
    (tmp_path / "cut.saif").write_text(HAND[: len(HAND) // 2])
    with pytest.raises(SaifError, match="cut.saif"):
        parse_saif(tmp_path / "cut.saif")
    s = parse_saif_text(HAND)
    with pytest.raises(SaifError, match="no instance 'nope'"):
        s.find("nope")
    assert issubclass(SaifError, ValueError)
