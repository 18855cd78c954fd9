"""Shared fixtures: small cae models trained on the bundled real locust recording."""
import os

import pytest

os.environ.setdefault("TF_USE_LEGACY_KERAS", "1")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")


@pytest.fixture(scope="session")
def locust_data():
    """Normalized 1024-sample segments of the first 12 s of the locust tetrode (4 channels)."""
    from neurocodec.train.cae_data import prepare_cae_data

    return prepare_cae_data("locust", max_seconds=12)


@pytest.fixture(scope="session")
def tiny_cae_dir(tmp_path_factory, locust_data):
    """A trained quantized cae (CR 64, 8 hidden filters, few epochs) saved as a model folder."""
    from neurocodec.train.cae_training import train_cae

    folder, _ = train_cae(locust_data, cr=64, epochs=6, patience=3, hidden_filters=8,
                          out_dir=tmp_path_factory.mktemp("models") / "cae_cr64", plots=False, verbose=False)
    return folder


@pytest.fixture(scope="session")
def hls_run(tiny_cae_dir, tmp_path_factory):
    """`neurocodec hls --model-dir <tiny cae> --out <tmp>` run in-process: (exit code, project, report, seconds)."""
    import json
    import time

    from neurocodec.hls.project import main

    out = tmp_path_factory.mktemp("hls") / "cae_cr64"
    t0 = time.perf_counter()
    code = main(["--model-dir", str(tiny_cae_dir), "--out", str(out)])
    seconds = time.perf_counter() - t0
    report = json.loads((out / "csim_report.json").read_text())
    return code, out, report, seconds
