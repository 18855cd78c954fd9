"""The Verilog generator's text comes from firmware/templates/*.v.j2 and is byte-identical to what
the former f-string generator wrote (sha256 recorded from it, commit 082503e~1), for encoders that
cover every branch of the templates: 1..16 MAC lanes, balanced lanes, several groups with a short
last group, a negative acc shift (left shift), a requantization wider than the register.

Since issue 13 the generator leaves out saturation logic that no input of the layer's input type
can reach (interval bound, `verilog_gen.saturation_needed`: dead hardware, and a mutant of it could
never be caught). `prune_saturation=False` still writes the former text byte for byte (GOLDEN);
the default text is pinned in GOLDEN_PRUNED (recorded when the pruning was added; it differs from
GOLDEN only in the pruned saturation wires, checked below, and is bit-exact in the cosim tests)."""
import hashlib

import numpy as np
import pytest

from neurocodec.firmware.verilog_gen import generate_encoder_verilog, plan_encoder
from neurocodec.quantize.reference import IntConvLayer, IntEncoder

# seed: (sha256 of cae_encoder.v, sha256 of cae_encoder_schedule.json) from the f-string generator
GOLDEN = {
    1: ("405182551c26896a84a103ea4e4c8ee91c1bdb69d9bbaff15e13c6717be90996",
        "6d5ca4766fce63803ea82b5fc015397d58840d4cb0ee6334c6bb699ec579a87a"),
    2: ("d899a8f9b9747fe4aaca81fd838341187107af6cb8be19ab77bca03028a3bd1c",
        "d8ec9672c291f68c733a470297018c895d8d888d64b09ad7f7dc1ca9358b3bef"),
    3: ("626b99673a4c80309b4a3fb45f3a2f6949050bdc29d34d9fb1bff683a4f22503",
        "45f07052e488836cdbfca2965a8d1cb1e74e57b57c00e2cf995215bd716cc096"),
    4: ("2d0d81410d6fff9ca89a4380fab91fc080d3201d31d61beb043e27dc82ecf4b4",
        "3757d08d439a5e7b2d34d9c7103719adfc26b4213e6e217833fce23c6fc9f07a"),
    5: ("224783d03cc222ff3ec9f32a99bea11eebea5ebbd9534b70160da7724bf598ac",
        "3e7e6ee19a59cdd0a7356f03cc9343bffde512e032b5ca1fdf15bb682141bc9f"),
    6: ("15a527e5ee344b245f7e99be370095cd037a3e120c65a7595b5ecbef05ec5284",
        "1845c5a788cdaa540b4455c64b51932bbaa70845a97b413a9d5f9889a1b6d982"),
    7: ("429b3dcf0037460894111dd8921b004bbc46375e60f052ab1e19515d372ba149",
        "6d91deee7fca2b73eefdeb61f812cc0d4b22d1f5000a9d1cb1bfcf89079c7023"),
}
# seed: sha256 of cae_encoder.v with the default prune_saturation=True (schedule json unchanged)
GOLDEN_PRUNED = {
    1: "779dbcd303b798a643c4c10a18b1d22fd1656a0736540605d8b5a74801a62c87",
    2: "d90c14cac0dab21feb231480aa6bdcaa703086c2b25d0cb635f50b87716899a9",
    3: "f0ac7d985f73e3c08ad1bc2890cf91c9d99ab5035d65daeaee12f4e12ed084bd",
    4: "7a740e3aef9ae1abf0478f2a5e3cfadcf9f32c6f1d178c3c272b762461a76f96",
    5: "34794ac172d3f6df16217690641f99d4efbdca1fa5663d1c503a3c2dedfb015b",
    6: "15a527e5ee344b245f7e99be370095cd037a3e120c65a7595b5ecbef05ec5284",
    7: "8205b461dd780a3f2819b8afbc3bb9d1fd5f7a909145fa8895e0c98bd90ed896",
}
CASES = {1: (16, 5, 4, 1, {}), 2: (16, 6, 2, 3, {}), 3: (16, 6, 1, [1, 8, 4, 2, 1, 1], {}), 4: (4, 3, 4, 16, {}),
         5: (8, 6, 1, 2, {}), 6: (4, 3, 2, 1, {"wf": 1}), 7: (4, 3, 2, 2, {"of": -12})}


def synthetic(seed, filters, n_layers, last, seg=1024, wf=7, of=5) -> IntEncoder:
    """A cae-shaped integer encoder with random integer weights (no training needed)."""
    rng = np.random.default_rng(seed)
    layers, c_in, frac = [], 1, 8
    for i in range(n_layers):
        c_out = last if i == n_layers - 1 else filters
        layers.append(IntConvLayer(rng.integers(-128, 128, (8, c_in, c_out)), rng.integers(-2**14, 2**14, c_out), wf,
                                   min(10, wf + frac), frac, 16, 10, 77, 8, 8, of))
        c_in, frac = c_out, of
    return IntEncoder(8, 8, seg, layers)


@pytest.mark.parametrize("seed", sorted(CASES))
def test_generated_verilog_is_byte_identical_to_the_former_generator(seed, tmp_path):
    filters, n, last, macs, kw = CASES[seed]
    ie = synthetic(seed, filters, n, last, **kw)
    v = generate_encoder_verilog(ie, tmp_path, macs_per_layer=macs, prune_saturation=False)
    got = (hashlib.sha256(v.read_bytes()).hexdigest(),
           hashlib.sha256((tmp_path / "cae_encoder_schedule.json").read_bytes()).hexdigest())
    assert got == GOLDEN[seed]


@pytest.mark.parametrize("seed", sorted(CASES))
def test_default_text_prunes_only_unreachable_saturation(seed, tmp_path):
    filters, n, last, macs, kw = CASES[seed]
    ie = synthetic(seed, filters, n, last, **kw)
    full = generate_encoder_verilog(ie, tmp_path / "full", macs_per_layer=macs, prune_saturation=False).read_text()
    v = generate_encoder_verilog(ie, tmp_path / "pruned", macs_per_layer=macs)
    assert hashlib.sha256(v.read_bytes()).hexdigest() == GOLDEN_PRUNED[seed]
    pruned = v.read_text()
    # the texts differ only in saturation wires (`*_pos` / `*_neg` and the muxes that use them)
    a, b = full.splitlines(), pruned.splitlines()
    assert all(any(k in ln for k in ("_pos", "_neg")) for ln in set(a) - set(b))
    assert all(any(k in ln for k in ("_pos", "_neg", "no saturation", "_unused")) for ln in set(b) - set(a))
    assert len(a) >= len(b)
    for pl in plan_encoder(ie, macs):  # a side proven unreachable has no saturation wire
        for reg, (hi, lo) in (("a", pl.saturation[:2]), ("y", pl.saturation[2:])):
            mod = pruned.split(f"module cae_encoder_l{pl.index} ")[1].split("endmodule")[0]
            assert hi or f"wire {reg}_n0_pos" not in mod
            assert lo or f"wire {reg}_n0_neg" not in mod


def test_saturation_bound_is_sound_and_tight_enough():
    from neurocodec.firmware.verilog_gen import layer_input_range, register_bounds
    from neurocodec.sim.coverage import _registers

    rng = np.random.default_rng(0)
    ie = synthetic(7, 4, 3, 2, of=-12)
    for i, layer in enumerate(ie.layers):
        lo, hi = layer_input_range(ie, i)
        b = register_bounds(layer, lo, hi)
        x = rng.choice([lo, hi, 0, lo // 2, hi // 2], (64, 40, layer.in_channels))
        r = _registers(x.astype(np.int64), layer)
        assert np.all(r["r1"] <= b["r1_hi"]) and np.all(r["r1"] >= b["r1_lo"])
        assert np.all(r["r2"] <= b["r2_hi"]) and np.all(r["r2"] >= b["r2_lo"])
        # the bound is attained: the sign pattern of a filter gives its largest acc exactly
        w = layer.weights[:, :, 0]
        xm = np.where(w > 0, hi, lo)[None]
        acc = (xm * w).sum() + (int(layer.bias[0]) << (layer.product_frac - layer.bias_frac))
        from neurocodec.quantize.fixed_point import shift_round_half_even

        assert shift_round_half_even(np.int64(acc), layer.product_frac - layer.acc_frac) == b["r1_hi"][0]


def test_cases_reach_every_template_branch():
    shifts = [(p.shift1, p.shift2, p.leaky_width) for s, (f, n, last, m, kw) in CASES.items()
              for p in plan_encoder(synthetic(s, f, n, last, **kw), m)]
    assert any(s1 < 0 for s1, _, _ in shifts)  # acc register: left shift
    assert any(s2 + 2 > lw for _, s2, lw in shifts)  # act register: source narrower than the shift
    plans = [p for s, (f, n, last, m, kw) in CASES.items() for p in plan_encoder(synthetic(s, f, n, last, **kw), m)]
    assert any(p.groups > 1 and p.last_group_size != p.lanes for p in plans)  # short last group
    assert any(p.groups == 1 for p in plans) and any(p.lanes == 1 for p in plans)
    sats = {p.saturation for p in plans}
    assert (True, True, True, True) in sats and (False, False, False, False) in sats  # kept / all pruned
    assert any(s[2] and not s[3] for s in sats)  # one side only
