"""Contract of the family registry: every (family, verb) either resolves to an importable callable
or is refused with a message (UnsupportedError, exit 2 from the CLI), never a crash; the stages x
families table of docs/dev/ARCHITECTURE.md is the registry's."""
import json
from pathlib import Path

import pytest

from neurocodec.cli import main
from neurocodec.errors import UnsupportedError
from neurocodec.registry import FAMILIES, STAGES, get_family

CODEC_VERBS = ("encode", "decode", "evaluate")
VERBS = STAGES + CODEC_VERBS
PAIRS = [(f, v) for f in FAMILIES for v in VERBS]
ARCHITECTURE = Path(__file__).resolve().parents[1] / "docs" / "dev" / "ARCHITECTURE.md"
BEGIN, END = "<!-- registry-table:begin -->", "<!-- registry-table:end -->"


def stage_table() -> str:
    """Markdown table of stages x families, made from the registry."""
    head = "| family | " + " | ".join(VERBS) + " |"
    rows = [head, "|" + "---|" * (len(VERBS) + 1)]
    for name, fam in FAMILIES.items():
        rows.append(f"| `{name}` | " + " | ".join("yes" if fam.supports(v) else "-" for v in VERBS) + " |")
    return "\n".join(rows)


@pytest.mark.parametrize("family,verb", [p for p in PAIRS if p[1] in STAGES and FAMILIES[p[0]].supports(p[1])])
def test_supported_stage_resolves_to_a_callable(family, verb):
    entry = FAMILIES[family].entry(verb)
    assert callable(entry), f"{family} {verb}: {FAMILIES[family].stages[verb]} is not callable"


@pytest.mark.parametrize("family,verb", [p for p in PAIRS if p[1] in CODEC_VERBS and FAMILIES[p[0]].supports(p[1])])
def test_supported_codec_verb_has_a_registered_codec(family, verb):
    from neurocodec.codec.registry import codec_class

    assert codec_class(FAMILIES[family].codec) is not None


def _model_dir(tmp_path, family) -> Path:
    d = tmp_path / f"m_{family}"
    d.mkdir()
    (d / "config.json").write_text(json.dumps({"family": family}))
    return d


@pytest.mark.parametrize("family,verb", [p for p in PAIRS if not FAMILIES[p[0]].supports(p[1])])
def test_unsupported_verb_is_a_message_and_exit_2(family, verb, tmp_path, capsys):
    fam = get_family(family)
    if verb in STAGES:
        with pytest.raises(UnsupportedError, match=rf"{family}.*does not support `{verb}`"):
            fam.entry(verb)
    if verb in ("train", "report"):
        argv = [verb, family]
    elif verb in CODEC_VERBS:
        d = _model_dir(tmp_path, family)
        argv = {"encode": ["encode", "--model-dir", str(d), "--input", "locust", "--out", str(tmp_path / "c.ncb")],
                "decode": ["decode", "--model-dir", str(d), "--codes", str(tmp_path / "c.ncb"),
                           "--out", str(tmp_path / "r.npz")],
                "evaluate": ["evaluate", "--model-dir", str(d)]}[verb]
    else:
        argv = [verb, "--model-dir", str(_model_dir(tmp_path, family))]
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert f"neurocodec {verb}: error:" in err and family in err, err


def test_unknown_family_is_a_message(capsys):
    assert main(["train", "no_such_family"]) == 2
    assert "unknown model family 'no_such_family'" in capsys.readouterr().err


def test_report_scripts_are_outside_the_package_and_need_a_docs_folder():
    for fam in FAMILIES.values():
        target = fam.stages.get("report", "")
        if target.endswith(".py:main") or ".py:" in target:
            path = target.split(":")[0]
            assert path.startswith("reports/"), target
            assert (ARCHITECTURE.parents[2] / path).is_file(), target


def test_architecture_table_is_the_registry():
    text = ARCHITECTURE.read_text()
    assert BEGIN in text and END in text, f"{ARCHITECTURE} lost its registry-table markers"
    table = text.split(BEGIN, 1)[1].split(END, 1)[0].strip()
    assert table == stage_table(), (
        f"docs/dev/ARCHITECTURE.md's stages x families table differs from neurocodec.registry; replace it by:\n"
        f"{stage_table()}")


def test_a_new_family_needs_its_module_and_one_entry(tmp_path, monkeypatch, capsys):
    """The ARCHITECTURE.md recipe: a family module + one Family entry, and every verb works or is refused."""
    from neurocodec import registry

    (tmp_path / "toy_family_mod.py").write_text(
        "import json, sys\n"
        "from pathlib import Path\n"
        "from neurocodec.files import atomic_dir, write_json_atomic\n"
        "def main(argv=None):\n"
        "    out = Path(argv[argv.index('--out') + 1])\n"
        "    with atomic_dir(out) as d:\n"
        "        write_json_atomic(d / 'config.json', {'family': 'toy'})\n"
        "    print('trained toy')\n"
        "    return 0\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.setitem(registry.FAMILIES, "toy", registry.Family(
        "toy", "toy family of the ARCHITECTURE.md recipe", "toy_family_mod", stages={"train": "toy_family_mod:main"}))
    out = tmp_path / "models" / "toy"
    assert main(["train", "toy", "--out", str(out)]) == 0
    assert json.loads((out / "config.json").read_text()) == {"family": "toy"}
    assert (out / "config.json").stat().st_mode & 0o777 == 0o644
    capsys.readouterr()
    assert main(["hls", "--model-dir", str(out)]) == 2  # found through config.json, refused with a message
    assert "model family 'toy' does not support `hls`; it supports: train" in capsys.readouterr().err


@pytest.mark.parametrize("family", list(FAMILIES))
def test_every_family_declares_one_save_load_pair(family):
    from neurocodec.registry import resolve

    fam = FAMILIES[family]
    assert fam.save and fam.load, f"{family}: no save/load declared in the registry"
    assert callable(resolve(fam.save)) and callable(resolve(fam.load))


def test_load_model_gives_the_one_shape(tiny_cae_dir):
    from neurocodec.registry import load_model
    from neurocodec.train.artifacts import LoadedModel

    m = load_model(tiny_cae_dir)
    assert isinstance(m, LoadedModel) and m.family == "cae" and m.spec.cr == 64
    assert set(m.models) == {"autoencoder", "encoder", "decoder"}
    assert m.models["encoder"].output_shape[1:] == (16, 1)  # CR 64: 1024 / 64 latent values
