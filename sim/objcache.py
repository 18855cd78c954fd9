"""A tiny compile cache for Verilator's run-time library objects (a ccache stand-in).

Every Verilator model built by cocotb's runner compiles the same run-time library
(verilated.cpp, verilated_vpi.cpp, verilated_threads.cpp, ...: ~40 s of C++ on a small machine)
into its own build folder, even though those objects do not depend on the design. verilated.mk
prefixes every compile with $(OBJCACHE) (`OBJCACHE ?=`, so the environment sets it);
runner.cosim sets OBJCACHE to `python -m neurocodec.sim.objcache`, and this module then:

* for a compile (`... -c -o X.o SRC.cpp`) of a source inside $VERILATOR_ROOT (the run-time
  library, never design code): looks up sha256(compiler command line, compiler binary identity,
  source file bytes, Verilator version/folder) in $NEUROCODEC_OBJCACHE_DIR; on a hit copies the
  object (and its -MMD .d file) into place, on a miss compiles and stores the result;
* for anything else (design code, cocotb's verilator.cpp which includes the design header):
  just runs the command.

Headers of the run-time library are part of the installed Verilator (keyed by its folder and
the verilated.h bytes), so a different Verilator or compiler gives different keys.
"""
from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import sys
from pathlib import Path


def _key(cmd: list[str], src: Path, root: Path) -> str:
    h = hashlib.sha256()
    h.update("\0".join(cmd).encode())
    exe = shutil.which(cmd[0]) or cmd[0]
    try:
        st = Path(exe).resolve().stat()
        h.update(f"{Path(exe).resolve()}:{st.st_size}:{st.st_mtime_ns}".encode())
    except OSError:
        h.update(exe.encode())
    h.update(src.read_bytes())
    h.update(str(root).encode())
    for name in ("verilated.h", "verilated_config.h", "verilatedos.h"):
        p = root / "include" / name
        if p.is_file():
            h.update(p.read_bytes())
    return h.hexdigest()[:32]


def main(argv: list[str]) -> int:
    cmd = list(argv)
    if not cmd:
        print("usage: python -m neurocodec.sim.objcache <compiler command>", file=sys.stderr)
        return 2
    cache = os.environ.get("NEUROCODEC_OBJCACHE_DIR")
    root = os.environ.get("VERILATOR_ROOT")
    obj = None
    if "-o" in cmd:
        i = cmd.index("-o")
        obj = cmd[i + 1] if i + 1 < len(cmd) else None
    srcs = [a for a in cmd if a.endswith((".cpp", ".cc", ".c"))]
    cacheable = bool(cache and root and obj and "-c" in cmd and len(srcs) == 1)
    if cacheable:
        src = Path(srcs[0]).resolve()
        rootp = Path(root).resolve()
        cacheable = rootp in src.parents
    if not cacheable:
        return subprocess.call(cmd)
    key = _key(cmd, src, rootp)
    cdir = Path(cache)
    cobj, cdep = cdir / f"{key}.o", cdir / f"{key}.d"
    dep = Path(obj).with_suffix(".d")
    if cobj.is_file():
        shutil.copyfile(cobj, obj)
        if cdep.is_file():
            shutil.copyfile(cdep, dep)
        return 0
    rc = subprocess.call(cmd)
    if rc == 0 and Path(obj).is_file():
        cdir.mkdir(parents=True, exist_ok=True)
        for s, d in ((Path(obj), cobj), (dep, cdep)):
            if s.is_file():
                tmp = d.with_name(f".{d.name}.{os.getpid()}.tmp")
                shutil.copyfile(s, tmp)
                os.replace(tmp, d)
    return rc


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
