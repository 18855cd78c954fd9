"""Readers for the recording formats neurocodec uses, and a dispatcher ``load_recording``.

Common format (``save_npz`` / ``.npz``): an ``np.savez`` archive with keys ``data``
(n_channels, n_samples) or (n_samples,), ``fs`` (Hz, scalar) and optionally ``units`` (str)
and ``channel_names`` (str array). A bare ``.npy`` array needs ``fs=`` passed to the loader.
"""
from __future__ import annotations

import re
import warnings
import zipfile
from pathlib import Path

import numpy as np

from .errors import RecordingError
from .recording import Recording
from .validate import check_fs

# Standard WFDB annotation codes (ecgcodes.h); 42-48 are unused/local codes.
MIT_CODE_SYMBOLS = {
    0: " ", 1: "N", 2: "L", 3: "R", 4: "a", 5: "V", 6: "F", 7: "J", 8: "A", 9: "S", 10: "E",
    11: "j", 12: "/", 13: "Q", 14: "~", 16: "|", 18: "s", 19: "T", 20: "*", 21: "D", 22: '"',
    23: "=", 24: "p", 25: "B", 26: "^", 27: "t", 28: "+", 29: "u", 30: "?", 31: "!", 32: "[",
    33: "]", 34: "e", 35: "n", 36: "@", 37: "x", 38: "f", 39: "(", 40: ")", 41: "r",
}
_SKIP, _NUM, _SUB, _CHN, _AUX = 59, 60, 61, 62, 63


def _existing(path) -> Path:
    path = Path(path)
    if path.is_dir():
        raise RecordingError(f"{path}: is a directory, not a recording file")
    if not path.is_file():
        raise RecordingError(f"{path}: file not found")
    return path


def _read_bytes(path: Path) -> bytes:
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise RecordingError(f"{path}: cannot read the file ({exc.strerror or exc})") from None
    if not raw:
        raise RecordingError(f"{path}: file is empty")
    return raw


def load_locust_raw(path, n_channels: int = 4, fs: float = 15000.0) -> Recording:
    """Interleaved little-endian int16 ``.raw`` file (default: locust tetrode, 4 ch, 15 kHz)."""
    path = _existing(path)
    if int(n_channels) < 1:
        raise RecordingError(f"{path}: n_channels must be >= 1, got {n_channels}")
    raw = _read_bytes(path)
    frame = 2 * int(n_channels)
    if len(raw) % frame:
        raise RecordingError(f"{path}: corrupt or truncated: size {len(raw)} bytes is not a "
                             f"multiple of {frame} (int16 x {n_channels} channels)")
    data = np.frombuffer(raw, "<i2").reshape(-1, n_channels).T
    return Recording(data.astype(np.float64), check_fs(fs), "adc_counts",
                     [f"ch{i}" for i in range(n_channels)], str(path))


# ----------------------------------------------------------------------------- WFDB
def _parse_wfdb_header(path: Path) -> tuple[dict, list[dict]]:
    lines = [ln.split("#", 1)[0].strip() for ln in path.read_text(errors="replace").splitlines()]
    lines = [ln for ln in lines if ln]
    try:
        rec = lines[0].split()
        name, nsig = rec[0], int(rec[1])
        if "/" in name:
            raise RecordingError(f"{path}: multi-segment WFDB records are not supported")
        fs = float(rec[2].split("/")[0].split("(")[0]) if len(rec) > 2 else 250.0
        nsamp = int(rec[3]) if len(rec) > 3 else None
        signals = []
        for ln in lines[1:1 + nsig]:
            f = ln.split(maxsplit=8)
            m = re.fullmatch(r"(\d+)(?:x(\d+))?(?::(\d+))?(?:\+(\d+))?", f[1])
            if m is None:
                raise ValueError(f"bad format field {f[1]!r}")
            gain_field = f[2] if len(f) > 2 else "200"
            g = re.fullmatch(r"([-+0-9.eE]+)(?:\(([-+0-9]+)\))?(?:/(\S+))?", gain_field)
            if g is None:
                raise ValueError(f"bad gain field {gain_field!r}")
            adczero = int(f[4]) if len(f) > 4 else 0
            signals.append({
                "file": f[0], "format": int(m.group(1)), "spf": int(m.group(2) or 1),
                "skew": int(m.group(3) or 0), "offset": int(m.group(4) or 0),
                "gain": float(g.group(1)) or 200.0,
                "baseline": int(g.group(2)) if g.group(2) is not None else adczero,
                "units": g.group(3) or "mV",
                "initval": int(f[5]) if len(f) > 5 else None,
                "checksum": int(f[6]) if len(f) > 6 else None,
                "name": f[8] if len(f) > 8 else f"sig{len(signals)}",
            })
    except RecordingError:
        raise
    except (IndexError, ValueError) as exc:
        raise RecordingError(f"{path}: unparsable WFDB header ({exc})") from None
    if len(signals) != nsig:
        raise RecordingError(f"{path}: header declares {nsig} signals but describes {len(signals)}")
    return {"name": name, "fs": fs, "nsamp": nsamp}, signals


def _decode_wfdb(raw: bytes, fmt: int, path: Path) -> np.ndarray:
    """Flat digital samples (frame-interleaved) of a format 16 or 212 signal file."""
    if fmt == 16:
        return np.frombuffer(raw[: len(raw) // 2 * 2], "<i2").astype(np.int32)
    if fmt == 212:
        b = np.frombuffer(raw[: len(raw) // 3 * 3], np.uint8).reshape(-1, 3).astype(np.int32)
        out = np.empty((b.shape[0], 2), np.int32)
        out[:, 0] = b[:, 0] | ((b[:, 1] & 0x0F) << 8)
        out[:, 1] = b[:, 2] | ((b[:, 1] & 0xF0) << 4)
        out = out.ravel()
        if len(raw) % 3 == 2:  # odd sample count: last 12-bit sample stored in 2 bytes
            out = np.append(out, raw[-2] | ((raw[-1] & 0x0F) << 8))
        return np.where(out > 2047, out - 4096, out)
    raise RecordingError(f"{path}: WFDB format {fmt} is not supported (only 16 and 212)")


def load_wfdb(record, annotator: str | None = "atr") -> Recording:
    """WFDB record (format 16/212) from its path without extension (or the ``.hea`` path).

    Returns physical units ((digital - baseline) / gain). All signals listed in the header are
    read, including those stored in other files (e.g. PTB ``.xyz``). If ``<record>.<annotator>``
    exists its beat annotations are attached ({"sample", "symbol", "aux"}).
    """
    record = Path(record)
    if record.suffix in (".hea", ".dat"):
        record = record.with_suffix("")
    hea = _existing(record.with_name(record.name + ".hea"))
    info, sigs = _parse_wfdb_header(hea)
    channels: list[np.ndarray] = [None] * len(sigs)  # type: ignore[list-item]
    for fname in dict.fromkeys(s["file"] for s in sigs):
        idx = [i for i, s in enumerate(sigs) if s["file"] == fname]
        fmts = {sigs[i]["format"] for i in idx}
        if len(fmts) > 1 or any(sigs[i]["spf"] != 1 or sigs[i]["skew"] for i in idx):
            raise RecordingError(f"{hea}: mixed formats, multi-frequency or skewed signals in "
                                 f"{fname} are not supported")
        dat = _existing(hea.parent / fname)
        raw = _read_bytes(dat)[sigs[idx[0]]["offset"]:]
        flat = _decode_wfdb(raw, fmts.pop(), dat)
        n_avail = flat.size // len(idx)
        nsamp = info["nsamp"] if info["nsamp"] is not None else n_avail
        if n_avail < nsamp:
            raise RecordingError(f"{dat}: truncated: header says {nsamp} samples per signal, "
                                 f"file holds {n_avail}")
        block = flat[: nsamp * len(idx)].reshape(nsamp, len(idx)).T
        for j, i in enumerate(idx):
            s, d = sigs[i], block[j]
            if s["checksum"] is not None and d.size and \
                    (int(d.sum()) + 32768) % 65536 - 32768 != s["checksum"]:
                raise RecordingError(f"{dat}: checksum mismatch for signal {s['name']} "
                                     "(corrupt file?)")
            channels[i] = (d - s["baseline"]) / s["gain"]
    units = sorted({s["units"] for s in sigs})
    ann_path = record.with_name(f"{record.name}.{annotator}") if annotator else None
    annotations = read_mit_annotations(ann_path) if ann_path and ann_path.is_file() else None
    return Recording(np.vstack(channels), info["fs"], units[0] if len(units) == 1 else
                     "/".join(units), [s["name"] for s in sigs], str(hea), annotations)


def read_mit_annotations(path) -> dict:
    """MIT-format annotation file -> {"sample": int64 array, "symbol": list[str], "aux": list[str]}."""
    path = _existing(path)
    raw = _read_bytes(path)
    if len(raw) % 2:
        raise RecordingError(f"{path}: truncated annotation file (odd byte count)")
    words = np.frombuffer(raw, "<u2").tolist()
    samples, symbols, aux = [], [], []
    t, i, n = 0, 0, len(words)
    while i < n:
        code, inc = words[i] >> 10, words[i] & 0x3FF
        if code == 0 and inc == 0:
            break
        if code == _SKIP:
            if i + 2 >= n:
                raise RecordingError(f"{path}: truncated SKIP record at word {i}")
            t += int(np.int32(np.uint32((words[i + 1] << 16) | words[i + 2])))
            i += 3
        elif code == _AUX:
            nwords = (inc + 1) // 2
            if i + nwords >= n or not symbols:
                raise RecordingError(f"{path}: corrupt AUX record at word {i}")
            text = np.array(words[i + 1: i + 1 + nwords], "<u2").tobytes()[:inc]
            aux[-1] = text.decode("latin-1").rstrip("\x00")
            i += 1 + nwords
        elif code in (_NUM, _SUB, _CHN):
            i += 1
        else:
            t += inc
            samples.append(t)
            symbols.append(MIT_CODE_SYMBOLS.get(code, f"[{code}]"))
            aux.append("")
            i += 1
    return {"sample": np.asarray(samples, np.int64), "symbol": symbols, "aux": aux}


# ----------------------------------------------------------------------------- others
def load_biosppy_txt(path, fs: float | None = None) -> Recording:
    """BioSPPy "Simple Text Format": '#' header (``Sampling Rate (Hz):= ...``) then samples."""
    path = _existing(path)
    text = _read_bytes(path).decode("utf-8", errors="replace")
    header = dict(re.findall(r"^#\s*([^:\n]+?)\s*:=\s*(.*?)\s*$", text, flags=re.M))
    if fs is None:
        if "Sampling Rate (Hz)" not in header:
            raise RecordingError(f"{path}: no 'Sampling Rate (Hz)' in header; pass fs=")
        fs = header["Sampling Rate (Hz)"]
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)  # "input contained no data"
            data = np.loadtxt(path, comments="#", ndmin=2, dtype=np.float64).T
    except ValueError as exc:
        raise RecordingError(f"{path}: unparsable sample line ({exc})") from None
    if data.size == 0:
        raise RecordingError(f"{path}: no samples after the header (empty data)")
    labels = header.get("Labels", "").split()
    if len(labels) != data.shape[0]:
        labels = [f"ch{i}" for i in range(data.shape[0])]
    return Recording(data, check_fs(fs, f"{path}: sampling rate"), "adc_counts", labels, str(path))


def load_eeglab(set_path) -> Recording:
    """EEGLAB ``.set`` (MATLAB v5) with data inline or in a float32 ``.fdt`` file, in uV."""
    import scipy.io

    set_path = _existing(set_path)
    try:
        eeg = scipy.io.loadmat(set_path, squeeze_me=True, struct_as_record=False)["EEG"]
        nbchan, pnts = int(eeg.nbchan), int(eeg.pnts)
        trials, srate = int(getattr(eeg, "trials", 1) or 1), float(eeg.srate)
    except Exception as exc:  # scipy raises many types on corrupt MAT files
        raise RecordingError(f"{set_path}: unreadable EEGLAB .set file ({exc})") from None
    n = pnts * trials
    if isinstance(eeg.data, str):
        fdt = _existing(set_path.parent / eeg.data)
        raw = _read_bytes(fdt)
        if len(raw) != 4 * nbchan * n:
            raise RecordingError(f"{fdt}: size mismatch: {len(raw)} bytes, expected "
                                 f"{4 * nbchan * n} (float32 x {nbchan} ch x {n} points)")
        data = np.frombuffer(raw, "<f4").reshape(n, nbchan).T
    else:
        data = np.asarray(eeg.data, np.float64).reshape(nbchan, n, order="F")
    locs = np.atleast_1d(getattr(eeg, "chanlocs", []))
    names = [str(getattr(c, "labels", f"ch{i}")) for i, c in enumerate(locs)]
    if len(names) != nbchan:
        names = [f"ch{i}" for i in range(nbchan)]
    events = np.atleast_1d(getattr(eeg, "event", []))
    ann = None
    if events.size and hasattr(events[0], "latency"):  # EEGLAB latencies are 1-based
        ann = {"sample": np.array([round(float(e.latency)) - 1 for e in events], np.int64),
               "symbol": [str(e.type) for e in events]}
    return Recording(data.astype(np.float64), srate, "uV", names, str(set_path), ann)


def load_scipy_ecg(path) -> Recording:
    """scipy's ``ecg.dat`` (npz, key 'ecg', uint16, 360 Hz) -> mV = (ecg - 1024) / 200."""
    path = _existing(path)
    try:
        with np.load(path) as z:
            ecg = z["ecg"]
    except Exception as exc:
        raise RecordingError(f"{path}: not a scipy ecg.dat npz archive ({exc})") from None
    if ecg.size == 0:
        raise RecordingError(f"{path}: 'ecg' array is empty")
    return Recording(((ecg.astype(np.float64) - 1024.0) / 200.0)[np.newaxis], 360.0, "mV",
                     ["MLII"], str(path))


def load_npz(path, fs: float | None = None) -> Recording:
    """Common format (see module docstring): ``.npz`` with 'data' and 'fs', or ``.npy`` + ``fs``."""
    path = _existing(path)
    head = _read_bytes(path)[:8]
    if path.suffix == ".npy" and not head.startswith(b"\x93NUMPY"):
        raise RecordingError(f"{path}: not a numpy .npy file (corrupt or truncated: no NUMPY header)")
    if path.suffix != ".npy" and not zipfile.is_zipfile(path):
        raise RecordingError(f"{path}: not a numpy .npz archive (corrupt or truncated zip)")
    meta: dict = {}
    try:
        if path.suffix == ".npy":
            data = np.load(path, allow_pickle=False)
        else:
            with np.load(path, allow_pickle=False) as z:
                if "data" not in z.files:
                    raise RecordingError(f"{path}: npz has no 'data' array (keys: {z.files})")
                data = z["data"]
                meta = {k: z[k] for k in ("fs", "units", "channel_names") if k in z.files}
    except RecordingError:
        raise
    except ValueError as exc:
        if "pickle" in str(exc):  # an object array: never unpickled from a recording file
            raise RecordingError(f"{path}: holds object (pickled) arrays, not a numeric recording") from None
        raise RecordingError(f"{path}: corrupt or truncated numpy file ({exc})") from None
    except Exception as exc:
        raise RecordingError(f"{path}: corrupt or truncated numpy file ({type(exc).__name__}: {exc})") from None
    fs = fs if fs is not None else meta.get("fs")
    if fs is None:
        raise RecordingError(f"{path}: no sampling rate ('fs' key missing); pass fs=")
    if data.ndim == 1:
        data = data[np.newaxis]
    if data.ndim != 2 or data.size == 0:
        raise RecordingError(f"{path}: 'data' must be non-empty (channels, samples), "
                             f"got shape {data.shape}")
    if data.dtype.kind not in "biuf":
        raise RecordingError(f"{path}: 'data' must be numeric, got dtype {data.dtype}")
    names = [str(c) for c in meta.get("channel_names", [f"ch{i}" for i in range(data.shape[0])])]
    units = str(meta.get("units", "unknown"))
    return Recording(data.astype(np.float64), check_fs(np.asarray(fs).item(), f"{path}: fs"),
                     units, names, str(path))


def save_npz(recording: Recording, path) -> Path:
    """Write ``recording`` in the common ``.npz`` format (annotations are not stored)."""
    from neurocodec.files import savez_atomic

    path = Path(path)
    path = path if path.suffix == ".npz" else path.with_name(path.name + ".npz")  # np.savez's naming
    return savez_atomic(path, data=recording.data, fs=recording.fs, units=recording.units,
                        channel_names=np.array(recording.channel_names, dtype=str))


def load_recording(name_or_path, **kwargs) -> Recording:
    """Load a bundled dataset by name (see ``list_datasets``) or a file, format by extension.

    Extensions: .raw (int16 interleaved; ``n_channels``, ``fs`` kwargs), .hea/.dat (WFDB; a
    .dat without .hea that is an npz archive is read as scipy ecg.dat), .txt (BioSPPy),
    .set (EEGLAB), .npz/.npy (common format; ``fs`` kwarg for .npy).
    """
    from .datasets import DATASETS, dataset_path

    path = Path(name_or_path)
    if str(name_or_path) in DATASETS and not path.exists():
        path = dataset_path(str(name_or_path))
    if path.is_dir():
        raise RecordingError(f"{path}: is a directory, not a recording file")
    if not path.is_file():
        raise RecordingError(f"{path}: file not found (and not a dataset name)")
    ext = path.suffix.lower()
    if ext == ".raw":
        return load_locust_raw(path, **kwargs)
    if ext == ".hea" or (ext == ".dat" and path.with_suffix(".hea").is_file()):
        return load_wfdb(path.with_suffix(""), **kwargs)
    if ext == ".dat":
        if zipfile.is_zipfile(path):
            try:
                with np.load(path, allow_pickle=False) as z:
                    keys = z.files
            except Exception as exc:
                raise RecordingError(f"{path}: corrupt npz archive ({type(exc).__name__}: {exc})") from None
            if "ecg" in keys:
                return load_scipy_ecg(path)
            return load_npz(path, **kwargs)
        raise RecordingError(f"{path}: .dat file without a WFDB .hea header next to it")
    if ext == ".txt":
        return load_biosppy_txt(path, **kwargs)
    if ext == ".set":
        return load_eeglab(path)
    if ext in (".npz", ".npy"):
        return load_npz(path, **kwargs)
    raise RecordingError(f"{path}: unknown file extension {ext!r} (supported: .raw, .hea, .dat, "
                         ".txt, .set, .npz, .npy)")
