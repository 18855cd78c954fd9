"""Reader for SAIF (Switching Activity Interchange Format, IEEE 1801 annex) files.

Written against Verilator's `--trace-saif` output (Verilator 5.048), which looks like::

    (SAIFILE
    (SAIFVERSION "2.0")
    (DIRECTION "backward")
    (PROGRAM_NAME "Verilator")
    (DIVIDER / )
    (TIMESCALE 1ps)
    (DURATION 172000)
     (INSTANCE tb
      (NET
       (clk (T0 87000) (T1 85000) (TZ 0) (TX 0) (TB 0) (TC 34))
       (q\\[0\\] (T0 92000) (T1 80000) (TZ 0) (TX 0) (TB 0) (TC 16))
       (mem[0]\\[3\\] (T0 95000) (T1 77000) (TZ 0) (TX 0) (TB 0) (TC 1))
      )
      (INSTANCE dut (NET ...) (INSTANCE sub ...))
     )
    )

One record per net *bit*; T0/T1/TZ/TX/TB are times (in TIMESCALE units) spent at 0, 1, Z, X and
"bus contention"; TC counts 0<->1 transitions, IG glitches (not written by Verilator). Names are
backslash-escaped (`q\\[0\\]` is bit 0 of q; `mem[0]\\[3\\]` bit 3 of word 0 of an unpacked
array). Verilator writes only RTL signals (no expression temporaries, no `_`-prefixed names
unless --trace-underscore) and repeats a port in the instance it belongs to and in its parent,
so toggles summed over a hierarchy count a port connection twice; `iter_nets(..., skip=...)`
lets the caller drop those. (PORT sections, written by some other tools, are read like NET with
`is_port=True`.)
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterator

from neurocodec.firmware.resources import HardwareReportError


class SaifError(HardwareReportError):
    """The SAIF file is missing, empty or not parseable."""


@dataclass
class NetActivity:
    t0: float = 0.0
    t1: float = 0.0
    tz: float = 0.0
    tx: float = 0.0
    tb: float = 0.0
    tc: int = 0
    ig: int = 0
    is_port: bool = False


@dataclass
class SaifInstance:
    name: str
    nets: dict = field(default_factory=dict)  # name -> NetActivity
    children: dict = field(default_factory=dict)  # name -> SaifInstance

    def walk(self, prefix: str = "", divider: str = "/") -> Iterator[tuple[str, "SaifInstance"]]:
        path = f"{prefix}{divider}{self.name}" if prefix else self.name
        yield path, self
        for child in self.children.values():
            yield from child.walk(path, divider)


_UNITS = {"s": 1.0, "ms": 1e-3, "us": 1e-6, "ns": 1e-9, "ps": 1e-12, "fs": 1e-15}


@dataclass
class Saif:
    version: str
    direction: str
    program: str
    divider: str
    timescale: str  # as written, e.g. "1ps"
    timescale_s: float  # seconds per time unit
    duration: float  # in time units
    instances: list  # top-level SaifInstance objects

    @property
    def duration_s(self) -> float:
        return self.duration * self.timescale_s

    def all_instances(self) -> Iterator[tuple[str, SaifInstance]]:
        for inst in self.instances:
            yield from inst.walk("", self.divider)

    def find(self, name: str) -> tuple[str, SaifInstance]:
        """(path, instance) of the instance whose path or last path element is `name`
        (breadth-first: the shallowest match wins)."""
        matches = [(p, i) for p, i in self.all_instances() if p == name or i.name == name]
        if not matches:
            known = ", ".join(p for p, _ in self.all_instances())
            raise SaifError(f"no instance {name!r} in the SAIF file (instances: {known})")
        return min(matches, key=lambda m: m[0].count(self.divider))

    def iter_records(self, scope: str | None = None) -> Iterator[tuple[str, SaifInstance, str, NetActivity]]:
        """(instance path, instance, net name, activity) of every net bit in `scope` (an
        instance name or path; default the whole file) and below."""
        roots = [self.find(scope)] if scope else [(i.name, i) for i in self.instances]
        for root_path, root in roots:
            prefix = root_path[: -len(root.name)].rstrip(self.divider)
            for path, inst in root.walk(prefix, self.divider):
                for net, act in inst.nets.items():
                    yield path, inst, net, act

    def iter_nets(self, scope: str | None = None,
                  skip: Callable[[str, SaifInstance, str, NetActivity], bool] | None = None,
                  ) -> Iterator[tuple[str, NetActivity]]:
        """(hierarchical net path, activity) of the net bits in `scope` and below;
        skip(inst_path, inst, net_name, activity) -> True leaves a net out."""
        for path, inst, net, act in self.iter_records(scope):
            if skip is None or not skip(path, inst, net, act):
                yield f"{path}{self.divider}{net}", act

    def toggle_counts(self, scope: str | None = None, skip=None) -> dict:
        """{hierarchical net path: TC}."""
        return {p: a.tc for p, a in self.iter_nets(scope, skip)}

    def total_toggles(self, scope: str | None = None, skip=None) -> int:
        return sum(a.tc for _, a in self.iter_nets(scope, skip))


_TOKEN = re.compile(r'\s*(?:(\()|(\))|("(?:[^"\\]|\\.)*")|((?:[^\s()"\\]|\\.)+))', re.S)
_ESCAPE = re.compile(r"\\(.)", re.S)


def _tokens(text: str) -> list:
    """'(' , ')' or atom strings (escapes removed, quotes stripped)."""
    out = []
    text_strip = text.rstrip()
    pos, n = 0, len(text_strip)
    while pos < n:
        m = _TOKEN.match(text_strip, pos)
        if m is None:
            raise SaifError(f"unexpected character {text_strip[pos]!r} at offset {pos}")
        pos = m.end()
        if m.group(1):
            out.append("(")
        elif m.group(2):
            out.append(")")
        elif m.group(3):
            out.append(_Atom(_ESCAPE.sub(r"\1", m.group(3)[1:-1])))
        else:
            out.append(_Atom(_ESCAPE.sub(r"\1", m.group(4))))
    return out


class _Atom(str):
    """An atom token (distinguishes a net literally named '(' from the parenthesis)."""


def _strip_comments(text: str) -> str:
    # '//' line comments and '/* */' blocks, outside quoted strings and not after a backslash
    return re.sub(r'("(?:[^"\\]|\\.)*")|(?<!\\)//[^\n]*|(?<!\\)/\*.*?\*/', lambda m: m.group(1) or " ", text, flags=re.S)


def _parse_tree(tokens: list):
    """Nested lists from the token stream; raises SaifError on unbalanced parentheses."""
    stack = [[]]
    for tok in tokens:
        if tok == "(" and not isinstance(tok, _Atom):
            stack.append([])
        elif tok == ")" and not isinstance(tok, _Atom):
            if len(stack) == 1:
                raise SaifError("unbalanced ')' in SAIF file")
            done = stack.pop()
            stack[-1].append(done)
        else:
            stack[-1].append(tok)
    if len(stack) != 1:
        raise SaifError(f"SAIF file ends inside {len(stack) - 1} open parenthes{'is' if len(stack) == 2 else 'es'} (truncated file?)")
    return stack[0]


def _number(tok, what: str) -> float:
    try:
        return float(tok)
    except (TypeError, ValueError):
        raise SaifError(f"{what}: expected a number, got {tok!r}") from None


def _parse_timescale(items: list) -> tuple[str, float]:
    text = "".join(str(t) for t in items).replace(" ", "")
    m = re.fullmatch(r"([0-9.]+)([a-z]+)", text)
    if not m or m.group(2) not in _UNITS:
        raise SaifError(f"cannot read TIMESCALE {text!r}")
    return text, float(m.group(1)) * _UNITS[m.group(2)]


_FIELDS = {"T0": "t0", "T1": "t1", "TZ": "tz", "TX": "tx", "TB": "tb", "TC": "tc", "IG": "ig"}


def _parse_net(entry: list, is_port: bool) -> tuple[str, NetActivity]:
    if not entry or isinstance(entry[0], list):
        raise SaifError(f"net record without a name: {entry!r:.80}")
    name = str(entry[0])
    act = NetActivity(is_port=is_port)
    for rec in entry[1:]:
        if not isinstance(rec, list) or not rec:
            continue
        key = str(rec[0]).upper()
        if key in _FIELDS and len(rec) >= 2:
            val = _number(rec[1], f"{key} of net {name}")
            setattr(act, _FIELDS[key], int(val) if key in ("TC", "IG") else val)
    return name, act


def _parse_instance(node: list) -> SaifInstance:
    # (INSTANCE [designname] name (NET ...) (PORT ...) (INSTANCE ...) ...)
    atoms = [t for t in node[1:] if not isinstance(t, list)]
    if not atoms:
        raise SaifError("INSTANCE without a name")
    inst = SaifInstance(str(atoms[-1]))
    for sub in node[1:]:
        if not isinstance(sub, list) or not sub:
            continue
        key = str(sub[0]).upper()
        if key in ("NET", "PORT"):
            for entry in sub[1:]:
                if isinstance(entry, list):
                    name, act = _parse_net(entry, key == "PORT")
                    if name in inst.nets and key == "PORT":
                        continue  # a NET record of the same name wins
                    inst.nets[name] = act
        elif key == "INSTANCE":
            child = _parse_instance(sub)
            inst.children[child.name] = child
    return inst


def parse_saif_text(text: str) -> Saif:
    tree = _parse_tree(_tokens(_strip_comments(text)))
    files = [n for n in tree if isinstance(n, list) and n and str(n[0]).upper() == "SAIFILE"]
    if len(files) != 1:
        raise SaifError("not a SAIF file: expected one top-level (SAIFILE ...) form")
    header = {"SAIFVERSION": "", "DIRECTION": "", "PROGRAM_NAME": "", "DIVIDER": "/"}
    timescale, timescale_s, duration = None, None, None
    instances = []
    for node in files[0][1:]:
        if not isinstance(node, list) or not node:
            continue
        key = str(node[0]).upper()
        if key == "TIMESCALE":
            timescale, timescale_s = _parse_timescale(node[1:])
        elif key == "DURATION":
            duration = _number(node[1] if len(node) > 1 else None, "DURATION")
        elif key == "INSTANCE":
            instances.append(_parse_instance(node))
        elif key in header:
            header[key] = " ".join(str(t) for t in node[1:]) or header[key]
    if duration is None:
        raise SaifError("SAIF file has no DURATION")
    if timescale is None:
        timescale, timescale_s = "1s", 1.0  # SAIF default unit when TIMESCALE is absent
    if not instances:
        raise SaifError("SAIF file has no INSTANCE (nothing was traced)")
    return Saif(header["SAIFVERSION"], header["DIRECTION"], header["PROGRAM_NAME"], header["DIVIDER"].strip() or "/",
                timescale, timescale_s, duration, instances)


def parse_saif(path) -> Saif:
    path = Path(path)
    if not path.is_file():
        raise SaifError(f"SAIF file not found: {path}")
    text = path.read_text(errors="replace")
    if not text.strip():
        raise SaifError(f"SAIF file is empty: {path}")
    try:
        return parse_saif_text(text)
    except SaifError as exc:
        raise SaifError(f"{path}: {exc}") from None


def bit_base(net: str) -> str:
    """'q[3]' -> 'q', 'mem[0][3]' -> 'mem', 'clk' -> 'clk' (the declared signal of a net bit)."""
    return net.split("[", 1)[0]


@dataclass
class ToggleSummary:
    scope: str
    duration_s: float
    n_nets: int  # net bits counted (clock included)
    toggles: int  # all counted toggles, clock included
    clock_toggles: int
    data_toggles: int  # toggles of non-clock nets
    toggles_per_second: float  # data toggles per simulated second
    skipped_nets: int  # nets left out (duplicated port connections)
    clock_nets: list

    def to_dict(self) -> dict:
        from dataclasses import asdict

        return asdict(self)


def summarize_toggles(saif: Saif, scope: str | None = None, clock_names=("clk", "clock", "aclk", "clk_i"),
                      skip=None) -> ToggleSummary:
    """Toggle totals of `scope` (default: the shallowest instance, i.e. the whole file), with
    nets named like a clock (bit_base in clock_names) counted apart."""
    kept, skipped = [], 0
    for inst_path, inst, net, act in saif.iter_records(scope):
        if skip is not None and skip(inst_path, inst, net, act):
            skipped += 1
            continue
        kept.append((f"{inst_path}{saif.divider}{net}", net, act))
    clock = [(p, a) for p, n, a in kept if bit_base(n) in clock_names]
    clock_toggles = sum(a.tc for _, a in clock)
    total = sum(a.tc for _, _, a in kept)
    data = total - clock_toggles
    dur = saif.duration_s
    return ToggleSummary(scope or (saif.instances[0].name if len(saif.instances) == 1 else "<all>"), dur, len(kept),
                         total, clock_toggles, data, data / dur if dur > 0 else float("nan"), skipped,
                         sorted({p for p, _ in clock}))


__all__ = ["SaifError", "NetActivity", "SaifInstance", "Saif", "parse_saif", "parse_saif_text", "bit_base",
           "ToggleSummary", "summarize_toggles"]
