"""The one set of file writers: every output of neurocodec is written atomically and readable.

A file is written to a temp name in its target folder and renamed into place when complete, so an
interrupted or failed write never leaves a partial file (and never destroys the old one). Files
are 0644, folders 0755 (mkstemp/mkdtemp would give 0600/0700). A folder of outputs (a trained
model, an HLS project) is filled in a staging folder and committed with one rename.
"""
import io
import json
import os
import shutil
import tempfile
from contextlib import contextmanager
from pathlib import Path

import numpy as np

FILE_MODE = 0o644
DIR_MODE = 0o755


def make_dirs(path) -> Path:
    """mkdir -p with 0755 folders (whatever the umask)."""
    path = Path(path)
    missing = []
    p = path
    while not p.exists():
        missing.append(p)
        p = p.parent
    path.mkdir(parents=True, exist_ok=True)
    for m in missing:
        os.chmod(m, DIR_MODE)
    return path


def write_bytes_atomic(path, data: bytes) -> Path:
    def save(tmp):
        with open(tmp, "wb") as f:
            f.write(data)

    return save_with_atomic(path, save)


def write_text_atomic(path, text: str) -> Path:
    return write_bytes_atomic(path, text.encode("utf-8"))


def json_default(o):
    """JSON for numpy scalars/arrays and paths."""
    if isinstance(o, np.integer):
        return int(o)
    if isinstance(o, np.floating):
        return float(o)
    if isinstance(o, np.ndarray):
        return o.tolist()
    if isinstance(o, Path):
        return str(o)
    raise TypeError(f"not JSON serializable: {type(o).__name__}")


def write_json_atomic(path, obj) -> Path:
    return write_text_atomic(path, json.dumps(obj, indent=2, default=json_default) + "\n")


def savez_atomic(path, **arrays) -> Path:
    """np.savez into memory, then one atomic write (no half-written .npz that still opens)."""
    buf = io.BytesIO()
    np.savez(buf, **arrays)
    return write_bytes_atomic(path, buf.getvalue())


def save_with_atomic(path, save) -> Path:
    """Atomic write for a library that saves to a path itself: `save(tmp_path)` (e.g. h5, png).

    The temp name keeps the target's suffix, since some savers pick the format from it."""
    path = Path(path)
    make_dirs(path.parent)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.stem}.", suffix=path.suffix)
    os.close(fd)
    try:
        save(tmp)
        os.chmod(tmp, FILE_MODE)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


def staging_dir(final_dir) -> Path:
    """A sibling temp folder (0755) to fill before `commit_dir` moves it into place."""
    final_dir = Path(final_dir)
    make_dirs(final_dir.parent)
    staged = Path(tempfile.mkdtemp(dir=final_dir.parent, prefix=f".{final_dir.name}.tmp"))
    os.chmod(staged, DIR_MODE)
    return staged


def commit_dir(staged, final_dir) -> Path:
    """Replace final_dir by the fully written staged folder."""
    final_dir = Path(final_dir)
    if final_dir.exists():
        shutil.rmtree(final_dir)
    os.replace(staged, final_dir)
    return final_dir


@contextmanager
def atomic_dir(final_dir):
    """`with atomic_dir(out) as d:` fill d; on success it replaces `out`, on error it is removed."""
    staged = staging_dir(final_dir)
    try:
        yield staged
    except BaseException:
        shutil.rmtree(staged, ignore_errors=True)
        raise
    commit_dir(staged, final_dir)


__all__ = [
    "FILE_MODE", "DIR_MODE", "make_dirs", "write_bytes_atomic", "write_text_atomic", "write_json_atomic",
    "json_default", "savez_atomic", "save_with_atomic", "staging_dir", "commit_dir", "atomic_dir",
]
