"""vq_cae residual VQ + codec (codec/vq.py), spike baseline codecs, the HDBSCAN sorter."""
import json

import numpy as np
import pytest

import neurocodec  # noqa: F401
from neurocodec.codec.testing import check_codec
from neurocodec.errors import BitstreamError, NeurocodecError
from neurocodec.quantize import vq_reference as R
from neurocodec.train import vq_training as T
from neurocodec.train.vq_cae import VqCaeSpec

FS = 24000.0
SPEC = VqCaeSpec(window=32, channels=2, filters=8, n_down=2, latent_dim=4, num_codes=16, decoder_filters=16,
                 stages=3)
SHAPES = None


def _unit_shapes():
    t = np.arange(32)
    shapes = np.stack([-np.exp(-0.5 * ((t - 10) / w) ** 2) + 0.35 * np.exp(-0.5 * ((t - 17) / (2.5 * w)) ** 2)
                       for w in (1.0, 1.8, 3.0)])
    gains = np.array([[1.0, 0.3], [0.4, 1.0], [0.8, 0.8]])
    return shapes, gains


def _windows(n, seed, noise=0.02, amp_range=(0.4, 0.9)):
    shapes, gains = _unit_shapes()
    rng = np.random.default_rng(seed)
    u = rng.integers(0, 3, n)
    amp = rng.uniform(*amp_range, (n, 1, 1))
    x = amp * shapes[u][:, :, None] * gains[u][:, None, :] + rng.normal(0, noise, (n, 32, 2))
    return np.clip(x, -1, 0.99).astype(np.float32), u


def _recording(seconds=1.5, seed=3):
    """4 channels (2 groups of 2), spikes of the 3 units every ~8 ms, noise 4 uV."""
    shapes, gains = _unit_shapes()
    rng = np.random.default_rng(seed)
    n = int(seconds * FS)
    data = rng.normal(0, 4.0, (4, n))
    for g in range(2):
        for t0 in range(100 + 37 * g, n - 100, 190):
            u = rng.integers(0, 3)
            data[2 * g: 2 * g + 2, t0: t0 + 32] += 150 * (shapes[u][None, :] * gains[u][:, None])
    return data


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory):
    T._init_threads()
    xt, _ = _windows(2500, 0)
    xv, _ = _windows(300, 1)
    models, hist = T.train_vq_cae(SPEC, xt, xv, T.TrainConfig(epochs=4, warmup_epochs=3, batch_size=128))
    out = tmp_path_factory.mktemp("m") / "vq_rvq"
    T.save_model(out, models, SPEC, 256.0, {"family": "test", "fs": FS}, hist, {}, xv)
    return out, models, xv


def test_residual_stages_bit_exact_and_better(model_dir):
    import tensorflow as tf

    out, models, xv = model_dir
    ie = R.IntVqEncoder.from_dict(json.loads((out / "int_encoder.json").read_text()))
    assert ie.stages == 3
    codes = R.quantize_input(xv, ie)
    z, idx = R.encode_int_rvq(codes, ie)
    assert idx.shape == (len(xv), 3, SPEC.latent_length)
    # stage 0 is the hardware's (HLS-checked) search, the stored test vectors hold it
    assert np.array_equal(idx[:, 0], R.encode_int(codes, ie)[1])
    with np.load(out / "test_vectors.npz") as tv:
        assert np.array_equal(tv["residual_indices"], R.encode_int_rvq(tv["input_codes"], ie)[1])
    # the training graph's residual search picks the same codewords
    nearest = models["vq"].nearest(tf.constant(z / 2.0**ie.latent_frac, tf.float32), 3).numpy()
    assert np.array_equal(nearest, idx)
    # every further stage lowers the error (quantizer dropout trained every rate)
    err = [np.mean((xv - T.decode_indices(models, idx[:, :s])) ** 2) for s in (1, 2, 3)]
    assert err[1] < err[0] and err[2] < err[1], err
    cost = R.encoder_cost(ie, 2)
    assert cost["macs_search"] == 2 * SPEC.latent_length * 16 * 4
    stem = ie.ops[0]
    assert cost["macs_encoder"] > 32 * 3 * 2 * 8 and stem.weights.shape == (3, 2, 8)
    with pytest.raises(R.VqReferenceError):
        R.encode_int_rvq(codes, ie, 4)


def test_vq_codec_conformance_and_rate(model_dir):
    from neurocodec.codec.vq import VqCaeCodec

    out, _, _ = model_dir
    data = _recording()
    sizes, errs = [], []
    for s in (1, 3):
        codec = VqCaeCodec(out, stages=s)
        rep = check_codec(codec, data, n_flips=60)
        assert rep["rejected"] > 0
        blob = codec.encode(data)
        d = codec.decode_spikes(blob)
        det = codec.detect(data)
        assert len(d["times"]) == len(det) > 40 and set(d["group"].tolist()) == {0, 1}
        order = np.lexsort((det.times, det.group))
        assert np.array_equal(d["times"], det.times[order])
        errs.append(np.mean((d["waveforms"] - det.waveforms[order]) ** 2) / np.mean(det.waveforms ** 2))
        sizes.append(len(blob))
        rec = codec.decode(blob)
        assert rec.shape == data.shape
        t = int(det.times[0])
        assert np.all(rec[:, : max(0, t - 32)] == 0)  # zero background before the first spike
    assert sizes[1] > sizes[0] and errs[1] < errs[0] < 0.5, (sizes, errs)
    codec = VqCaeCodec(out, stages=1)
    blob = codec.encode(data)
    with pytest.raises(BitstreamError):
        VqCaeCodec(out, stages=3).decode(blob[:-1])
    bad = bytearray(blob)
    bad[len(bad) // 2] ^= 4
    with pytest.raises(BitstreamError):
        codec.decode(bytes(bad))
    with pytest.raises(NeurocodecError):
        VqCaeCodec(out, stages=4)
    with pytest.raises(NeurocodecError):
        codec.encode(data[:1])


def test_spike_baseline_codecs(tmp_path):
    from neurocodec.codec.spike_baselines import CsSpikeCodec, DwtSpikeCodec, PcaSpikeCodec, fit_pca_basis

    x = 200 * _windows(300, 4, noise=0.03)[0].astype(np.float64)
    basis = fit_pca_basis(200 * _windows(800, 5)[0], tmp_path / "basis.npz")
    target = x.size * 16 / 32
    for codec, xs in ((PcaSpikeCodec.for_budget(x, target, str(basis)), x), (DwtSpikeCodec.for_budget(x, target), x),
                      (CsSpikeCodec.for_budget(x[:60], target / 5), x[:60])):
        rep = check_codec(codec, xs, n_flips=40)
        assert rep["bits"] <= target * 1.1 and rep["rejected"] > 0
        err = np.sum((codec.decode(codec.encode(xs)) - xs) ** 2) / np.sum(xs ** 2)
        assert err < 0.6, (codec, err)
    pca = PcaSpikeCodec.for_budget(x, target, str(basis))
    with pytest.raises(BitstreamError):  # another basis: the header's hash does not match
        np.savez(tmp_path / "other.npz", mean=np.zeros(64), components=np.eye(64)[:48])
        PcaSpikeCodec(str(tmp_path / "other.npz"), pca.components, pca.delta).decode(pca.encode(x))


def test_hdbscan_sorter_sorts_and_can_fail():
    from neurocodec.metrics.sorting import agreement, hdbscan_sort, sorting_scores

    x, u = _windows(900, 7, noise=0.05, amp_range=(0.75, 0.9))  # units' amplitudes vary by ~10 %
    cl = hdbscan_sort(x)
    assert sorting_scores(cl, u)["accuracy"] > 0.97
    # a "codec" that mixes up the channels of different spikes: the sorter must notice
    mixed = x.copy()
    mixed[:, :, 1] = x[np.random.default_rng(1).permutation(len(x)), :, 1]  # channel 1 of another spike
    assert sorting_scores(hdbscan_sort(mixed), u)["accuracy"] < 0.85
    assert agreement(cl, (cl + 1) % (cl.max() + 1)) == 1.0
    assert agreement(cl, np.zeros_like(cl)) < 0.5


def test_hdbscan_min_cluster_size_scales_with_the_spike_count():
    """Amplitude spread within units: a fixed minimum of 25 lets leaf selection cut units in
    pieces; 5 % of the spikes keeps them whole. A "codec" that snaps each unit's spikes onto a
    few tight cells is still caught."""
    from sklearn.cluster import KMeans

    from neurocodec.metrics.sorting import SortingError, hdbscan_sort, min_cluster_size_for, sorting_scores

    assert min_cluster_size_for(1200) == 60 and min_cluster_size_for(100) == 25
    x, u = _windows(1200, 7, noise=0.05, amp_range=(0.6, 0.9))
    assert sorting_scores(hdbscan_sort(x), u)["accuracy"] > 0.97
    assert sorting_scores(hdbscan_sort(x, min_cluster_size=25), u)["accuracy"] < 0.9
    cells = x.copy()
    rng = np.random.default_rng(2)
    for k in range(3):
        m = u == k
        km = KMeans(10, n_init=2, random_state=0).fit(x[m].reshape(m.sum(), -1))
        cells[m] = km.cluster_centers_[km.labels_].reshape(-1, *x.shape[1:]) + rng.normal(0, 0.01, x[m].shape)
    assert sorting_scores(hdbscan_sort(cells), u)["accuracy"] < 0.8
    with pytest.raises(SortingError):
        hdbscan_sort(x, min_cluster_size=1)


def test_file_encode_decode_through_the_registry(model_dir, tmp_path):
    from neurocodec.codec.recording import decode_codes, encode_recording
    from neurocodec.signals import Recording

    out, _, _ = model_dir
    data = _recording(seconds=0.8, seed=9)
    rec = Recording(data, FS, "uV", [f"ch{i}" for i in range(4)], "test")
    rep = encode_recording(out, rec, tmp_path / "rec.ncdc")
    assert rep["codec"] == "vq_cae" and rep["n_spikes"] > 10 and rep["bitstream_bits"] == 8 * (tmp_path / "rec.ncdc").stat().st_size
    back = decode_codes(out, tmp_path / "rec.ncdc")
    assert back.data.shape == data.shape and back.fs == FS and back.units == "uV"
    spikes = np.abs(back.data).max(axis=0) > 0
    assert 0 < spikes.mean() < 0.9  # spikes pasted on a zero background
    (tmp_path / "bad.ncdc").write_bytes((tmp_path / "rec.ncdc").read_bytes()[:-3])
    with pytest.raises(BitstreamError):
        decode_codes(out, tmp_path / "bad.ncdc")


def test_beam_search_is_exact_m_best():
    """rvq_search_int: beam 1 is the greedy search; a beam of K**(S-1) paths is exhaustive (the
    brute-force optimum over all K**S codeword sequences); a beam of 4 beats greedy on average."""
    import itertools

    rng = np.random.default_rng(7)
    k, d, st = 8, 3, 3
    books = [rng.integers(-400 >> s, 400 >> s, (k, d)) for s in range(st)]
    z = rng.integers(-500, 500, (3000, d))

    def err(idx):
        r = z.copy()
        for s in range(idx.shape[1]):
            r = r - books[s][idx[:, s]]
        return np.sum(r * r, axis=1)

    greedy = R.rvq_search_int(z, books, st, beam=1)
    r, ref = z.copy(), []
    for s in range(st):
        i = np.argmin(np.sum((r[:, None, :] - books[s][None]) ** 2, axis=-1), axis=1)
        ref.append(i)
        r = r - books[s][i]
    assert np.array_equal(greedy, np.stack(ref, 1))
    full = R.rvq_search_int(z, books, st, beam=k ** (st - 1))
    combos = np.array(list(itertools.product(range(k), repeat=st)))
    best = np.min([err(np.repeat(c[None], len(z), 0)) for c in combos], axis=0)
    assert np.array_equal(err(full), best)
    e1, e4 = err(greedy), err(R.rvq_search_int(z, books, st, beam=4))
    assert e4.mean() < 0.95 * e1.mean() and np.all(err(full) <= e1)
    with pytest.raises(R.VqReferenceError):
        R.rvq_search_int(z, books, st, beam=0)


def test_entropy_prior_round_trip_and_saving():
    from neurocodec.quantize.entropy import EntropyCodingError, decode_indices, encode_indices

    rng = np.random.default_rng(3)
    p = np.r_[np.full(4, 0.2), np.full(12, 0.2 / 12)]
    idx = rng.choice(16, (300, 2), p=p)
    prior = T.fit_index_prior(rng.choice(16, (5000, 1, 2), p=p), 16)[0]
    plain, learned = encode_indices(idx, 16), encode_indices(idx, 16, prior=prior)
    assert learned.n_bits < 0.97 * plain.n_bits
    assert np.array_equal(decode_indices(learned, 300, 2, 16, prior=prior), idx)
    try:  # another model: other symbols, or the stream's end check fails
        assert not np.array_equal(decode_indices(learned, 300, 2, 16), idx)
    except EntropyCodingError:
        pass
    with pytest.raises(EntropyCodingError):
        encode_indices(idx, 16, prior=prior[:1])
    with pytest.raises(EntropyCodingError):
        encode_indices(idx, 16, prior=np.zeros((2, 16), np.int64))


def test_codec_prior_is_part_of_the_model_and_beam_round_trips(model_dir, tmp_path):
    import shutil

    from neurocodec.codec.vq import VqCaeCodec

    out, _, _ = model_dir
    with_prior = tmp_path / "p" / out.name
    shutil.copytree(out, with_prior)
    xt, _ = _windows(1500, 4)
    T.write_index_prior(with_prior, windows=256.0 * xt)
    counts = np.load(with_prior / T.INDEX_PRIOR)["counts"]
    assert counts.shape == (3, SPEC.latent_length, 16) and counts.min() >= 1
    data = _recording()
    plain, learned = VqCaeCodec(out, stages=3), VqCaeCodec(with_prior, stages=3)
    assert plain._m.hash != learned._m.hash
    blob = learned.encode(data)
    check_codec(learned, data, n_flips=30)
    with pytest.raises(BitstreamError):  # same model name and weights, another entropy model
        plain.decode(blob)
    # the beam changes the codewords chosen, not the format: indices decode to the reference's
    det = learned.detect(data)
    order = np.lexsort((det.times, det.group))
    ie = learned._m.ie
    x, _ = T.normalize(det.waveforms[order], learned._m.scale)
    codes = R.quantize_input(x, ie)
    z = R.encoder_int(codes, ie).astype(np.int64)
    errs = []
    for beam in (1, 8):
        c = VqCaeCodec(with_prior, stages=3, beam=beam)
        assert c.get_config()["beam"] == beam
        d = c.decode_spikes(c.encode(data))
        assert np.array_equal(d["indices"], R.encode_int_rvq(codes, ie, 3, beam=beam)[1])
        books = [ie.codebook, *ie.residual_codebooks]
        r = z - sum(np.asarray(books[s])[d["indices"][:, s]] for s in range(3))
        errs.append(np.sum(r.astype(float) ** 2))
    assert errs[1] < errs[0], errs
    assert R.encoder_cost(ie, 3, beam=8)["macs_search"] == (1 + 8 + 8) * SPEC.latent_length * 16 * 4
    np.savez(with_prior / T.INDEX_PRIOR, counts=counts[:2])
    with pytest.raises(NeurocodecError, match="index prior"):
        VqCaeCodec(with_prior)
    with pytest.raises(NeurocodecError):
        VqCaeCodec(out, beam=0)


def test_cli_codec_options_set_rate_and_beam(model_dir, tmp_path):
    """`neurocodec encode --option stages=1 --option beam=4`: the bitstream holds one stage coded by
    the beam search; an unknown option or a bad value exits 2 and writes no file."""
    from neurocodec.cli import main
    from neurocodec.codec.vq import VqCaeCodec
    from neurocodec.signals import Recording
    from neurocodec.signals.loaders import save_npz

    out, _, _ = model_dir
    src = save_npz(Recording(_recording(seconds=0.8, seed=11), FS, "uV", [f"ch{i}" for i in range(4)], "t"),
                   tmp_path / "rec.npz")
    codes = tmp_path / "rec.ncdc"
    assert main(["encode", "--model-dir", str(out), "--input", str(src), "--out", str(codes),
                 "--option", "stages=1", "--option", "beam=4"]) == 0
    ref = VqCaeCodec(out, stages=1, beam=4)
    assert codes.read_bytes() == ref.encode(_recording(seconds=0.8, seed=11))
    d = ref.decode_spikes(codes.read_bytes())
    assert d["indices"].shape[1] == 1
    for i, bad in enumerate((["--option", "nope=1"], ["--option", "beam=0"], ["--option", "stages"],
                             ["--option", "model_dir=x"], ["--option", "rdo=-1"])):
        target = tmp_path / f"bad{i}.ncdc"
        assert main(["encode", "--model-dir", str(out), "--input", str(src), "--out", str(target), *bad]) == 2
        assert not target.exists()


def test_entropy_coder_codes_only_the_first_lengths_of_each_row():
    from neurocodec.quantize.entropy import EntropyCodingError, decode_indices, encode_indices

    rng = np.random.default_rng(5)
    idx = rng.integers(0, 16, (400, 6))
    lens = rng.integers(0, 7, 400)
    full, ragged = encode_indices(idx, 16), encode_indices(idx, 16, lengths=lens)
    assert ragged.n_symbols == lens.sum() and ragged.n_bits < full.n_bits * (lens.sum() / idx.size) * 1.05
    out = decode_indices(ragged, 400, 6, 16, lengths=lens)
    keep = np.arange(6)[None] < lens[:, None]
    assert np.array_equal(out[keep], idx[keep]) and np.all(out[~keep] == -1)
    # rows past their length do not change the stream
    other = np.where(keep, idx, rng.integers(0, 16, idx.shape))
    assert encode_indices(other, 16, lengths=lens).data == ragged.data
    with pytest.raises(EntropyCodingError):  # the decoder must be told the encoder's lengths
        decode_indices(ragged, 400, 6, 16, lengths=np.minimum(lens + 1, 6))
    for bad in (lens[:-1], lens + 7, lens - 7, lens.astype(float)):
        with pytest.raises(EntropyCodingError):
            encode_indices(idx, 16, lengths=bad)


def test_variable_rate_codec_sends_the_stages_its_estimate_chooses(model_dir, tmp_path):
    """rdo = lambda: each spike's stage count maximizes the linear SNDR estimate - lambda * bits;
    the indices sent are the s-stage search's, the decoder sums only those; corrupt streams fail."""
    from neurocodec.codec.vq import VqCaeCodec
    from neurocodec.metrics.reconstruction import sndr_db

    out, models, _ = model_dir
    data = _recording()
    fixed = {s: len(VqCaeCodec(out, stages=s).encode(data)) for s in (1, 3)}
    ref = VqCaeCodec(out, stages=3)
    det = ref.detect(data)
    order = np.lexsort((det.times, det.group))
    ie, m = ref._m.ie, ref._m
    x, _ = T.normalize(det.waveforms[order], m.scale)
    codes = R.quantize_input(x, ie)
    cands = [R.encode_int_rvq(codes, ie, s)[1] for s in (1, 2, 3)]
    est = m.linear_estimate
    assert est.shape == (SPEC.latent_length * SPEC.latent_dim + 1, SPEC.window * SPEC.channels)
    # the estimate tracks the decoder: its SNDR rises with the stages like the decoder's
    xf = codes.reshape(len(codes), -1).astype(float)
    lin = [np.mean(np.sum(xf ** 2, 1) / np.sum((xf - np.c_[R.partial_sums(c, ie).reshape(len(c), -1),
                                                          np.ones(len(c))] @ est) ** 2, 1)) for c in cands]
    assert lin[0] < lin[1] < lin[2], lin
    mixes = []
    for lam in (1e-4, 0.02, 0.05, 0.1, 0.3, 3.0):
        c = VqCaeCodec(out, stages=3, rdo=lam)
        assert c.get_config()["rdo"] == lam
        blob = c.encode(data)
        d = c.decode_spikes(blob)
        sent = (d["indices"][:, :, 0] >= 0).sum(1)
        want = R.choose_stages(R.linear_sndr(codes, cands, ie, est), m.stage_bits(), lam)
        assert np.array_equal(sent, want)
        for s in (1, 2, 3):
            sel = sent == s
            assert np.array_equal(d["indices"][sel, :s], cands[s - 1][sel]) and np.all(d["indices"][sel, s:] == -1)
        assert np.allclose(d["waveforms"], T.denormalize(T.decode_indices(models, d["indices"]), m.scale,
                                                         d["exponents"]))
        mixes.append(np.bincount(sent, minlength=4)[1:])
        assert fixed[1] - 16 <= len(blob) <= fixed[3] + len(d["times"]) // 4 + 16
    # lambda -> 0: the stage count of the best estimate (mostly all stages); large lambda: one stage
    assert mixes[0][2] > 0.6 * len(sent) and mixes[-1][0] == len(sent), mixes
    assert any(np.count_nonzero(mx) > 1 for mx in mixes), mixes  # in between: a mixture
    # the decoder as the estimate: the choice maximizes the decoded SNDR - lambda * bits exactly
    c = VqCaeCodec(out, stages=3, rdo=0.05, estimate="decoder")
    d = c.decode_spikes(c.encode(data))
    sent = (d["indices"][:, :, 0] >= 0).sum(1)
    dec = np.stack([sndr_db(x.reshape(len(x), -1), T.decode_indices(models, cd).reshape(len(x), -1)) for cd in cands], 1)
    assert np.array_equal(sent, np.argmax(dec - 0.05 * np.cumsum(m.stage_bits())[None], 1) + 1)
    with pytest.raises(NeurocodecError):
        VqCaeCodec(out, estimate="oracle")
    c = VqCaeCodec(out, stages=3, rdo=0.05)
    rep = check_codec(c, data, n_flips=40)
    assert rep["rejected"] > 0
    blob = c.encode(data)
    with pytest.raises(BitstreamError):
        c.decode(blob[:-3])
    for bad in (-0.1, float("nan"), float("inf")):
        with pytest.raises(NeurocodecError):
            VqCaeCodec(out, rdo=bad)
