"""The bench harness: every timed case in N fresh processes, interleaved, median and spread.

A *case* is a Python callable (``"module:function"`` plus JSON-able kwargs; modules are
looked up in ``bench/`` first) or a command line.  Each run of a case is a fresh process
(``sys.executable``, or the command's own interpreter) that prints one JSON object of
measurements on its last stdout line.  Numbers (also inside nested dicts, as ``a.b``) are
measures; an ``"info"`` dict and any other values are kept as information.  The harness adds
``process_seconds`` (wall time of the whole process, start-up included) and
``process_cpu_seconds`` (its user + system CPU time).

Rounds run every case once, in an order that alternates (A B C, then C B A, ...) or a seeded
shuffle.  Per case and measure the result has the median, min, max, IQR, relative spread
((max - min) / median) and the raw values; ratios between cases are computed per round
(A_i / B_i), then summarized the same way.  :func:`machine_info` records the machine, and
:func:`write` writes ``bench/results/<name>.json``.  The machine is shared and noisy: read
ratios from one run, not absolute numbers across runs.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import resource
import statistics
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
from machine import machine_info  # noqa: E402  (bench/machine.py; re-exported)

__all__ = ["Case", "CaseFailed", "Ratio", "machine_info", "run", "run_case", "run_once"]
RESULTS = HERE / "results"
#: runs in the fresh process of a callable case
_CHILD = """import importlib, json, sys
spec = json.loads(sys.argv[1])
sys.path[:0] = spec["path"]
module, name = spec["call"].split(":")
result = getattr(importlib.import_module(module), name)(**spec["kwargs"])
sys.stdout.flush()
print("\\n" + json.dumps(result), flush=True)
"""


@dataclass
class Case:
    """One timed case: ``call`` ("module:function") with ``kwargs``, or ``argv``.

    ``env`` is added to the environment; ``post`` (parent side, optional) maps one run's
    measures (``process_seconds`` included) to more measures, e.g. derived phases."""

    name: str
    call: str | None = None
    kwargs: dict = field(default_factory=dict)
    argv: list[str] | None = None
    env: dict[str, str] = field(default_factory=dict)
    timeout: float | None = None
    post: Callable[[dict], dict] | None = None

    def command(self) -> list[str]:
        """The command line of one run."""
        if (self.call is None) == (self.argv is None):
            raise ValueError(f"case {self.name!r}: give exactly one of call and argv")
        if self.argv is not None:
            return [str(a) for a in self.argv]
        spec = {"call": self.call, "kwargs": self.kwargs, "path": [str(HERE)]}
        return [sys.executable, "-c", _CHILD, json.dumps(spec)]

    def spec(self) -> dict:
        """What the results file records about the case."""
        return {"call": self.call, "kwargs": self.kwargs, "argv": self.argv, "env": self.env}


@dataclass
class Ratio:
    """``num`` / ``den``, each (case, measure), computed per round."""

    name: str
    num: tuple[str, str]
    den: tuple[str, str]


class CaseFailed(RuntimeError):
    """A case's process exited with an error or printed no JSON object."""


def run_case(case: Case) -> dict:
    """Run ``case`` once in a fresh process; its measurements (see the module docstring).

    Raises
    ------
    CaseFailed
        When the process fails, times out or prints no JSON object last.
    """
    load = os.getloadavg()[0]
    c0 = resource.getrusage(resource.RUSAGE_CHILDREN)
    t = time.perf_counter()
    try:
        p = subprocess.run(
            case.command(), capture_output=True, text=True, timeout=case.timeout,
            env={**os.environ, **case.env},
        )  # fmt: skip
    except subprocess.TimeoutExpired as exc:
        raise CaseFailed(f"{case.name}: no result after {case.timeout} s") from exc
    wall = time.perf_counter() - t
    c1 = resource.getrusage(resource.RUSAGE_CHILDREN)
    lines = [x for x in p.stdout.splitlines() if x.strip()]
    if p.returncode or not lines:
        tail = " | ".join((p.stderr.strip() or p.stdout.strip()).splitlines()[-4:])
        raise CaseFailed(f"{case.name}: exit status {p.returncode}: {tail[-1500:]}")
    try:
        out = json.loads(lines[-1])
    except json.JSONDecodeError as exc:
        raise CaseFailed(f"{case.name}: last stdout line is not JSON: {lines[-1][:200]}") from exc
    if not isinstance(out, dict):
        raise CaseFailed(f"{case.name}: last stdout line is not a JSON object")
    measures, info = split_measures(out)
    measures["process_seconds"] = wall
    measures["process_cpu_seconds"] = (c1.ru_utime + c1.ru_stime) - (c0.ru_utime + c0.ru_stime)
    if case.post:
        measures.update(case.post(dict(measures)))
    return {"measures": measures, "info": info, "raw": out, "load_1min_before": load}


def split_measures(out: dict, prefix: str = "") -> tuple[dict[str, float], dict]:
    """(numbers, everything else) of a case's JSON object; nested dicts flatten to ``a.b``,
    the ``info`` dict is information as a whole."""
    measures: dict[str, float] = {}
    info: dict = {}
    for key, value in out.items():
        if key == "info" and not prefix and isinstance(value, dict):
            info.update(value)
        elif isinstance(value, bool) or value is None:
            info[prefix + key] = value
        elif isinstance(value, int | float):
            measures[prefix + key] = float(value)
        elif isinstance(value, dict):
            m, i = split_measures(value, f"{prefix}{key}.")
            measures.update(m)
            info.update(i)
        else:
            info[prefix + key] = value
    return measures, info


def summarize(values: Sequence[float]) -> dict:
    """median, min, max, IQR, relative spread ((max - min) / median), n and the values."""
    v = [float(x) for x in values]
    if not v:
        return {"n": 0, "values": []}
    med = statistics.median(v)
    q = statistics.quantiles(v, n=4, method="inclusive") if len(v) > 1 else [v[0]] * 3
    return {
        "median": med,
        "min": min(v),
        "max": max(v),
        "iqr": q[2] - q[0],
        "spread": (max(v) - min(v)) / abs(med) if med else None,
        "n": len(v),
        "values": v,
    }


def round_order(names: list[str], r: int, order: str, seed: int) -> list[str]:
    """The cases of round ``r``: ``alternate`` (A B C, C B A, ...) or a seeded ``shuffle``."""
    if order == "alternate":
        return list(names) if r % 2 == 0 else list(reversed(names))
    if order == "shuffle":
        out = list(names)
        random.Random(seed * 1_000_003 + r).shuffle(out)
        return out
    raise ValueError(f"unknown order {order!r}: alternate or shuffle")


def run(
    name: str,
    cases: Sequence[Case],
    ratios: Sequence[Ratio] = (),
    rounds: int = 5,
    order: str = "alternate",
    seed: int = 0,
    settings: dict | None = None,
    log: Callable[[str], None] | None = print,
) -> dict:
    """Run every case ``rounds`` times in fresh processes, interleaved; the summary.

    Parameters
    ----------
    name : str
        The bench's name (``bench/results/<name>.json``).
    cases, ratios : sequence of Case, sequence of Ratio
        What to run and which per-round ratios to report.
    rounds, order, seed : int, str, int
        Rounds; ``alternate`` or ``shuffle`` order (seeded).
    settings : dict, optional
        The bench's own settings, recorded as they are.
    log : callable, optional
        Progress lines (None: quiet).

    Returns
    -------
    dict
        ``machine``, ``settings``, ``rounds`` (order and load of each), ``cases`` (per measure
        summaries, info, errors), ``ratios`` and the load average before and after.
    """
    names = [c.name for c in cases]
    if len(set(names)) != len(names):
        raise ValueError(f"case names repeat: {names}")
    by_name = {c.name: c for c in cases}
    machine = machine_info()
    runs, errors, round_log = _rounds(by_name, rounds, order, seed, log)
    return {
        "bench": name,
        "machine": machine,
        "settings": dict(settings or {}, rounds=rounds, order=order, seed=seed),
        "rounds": round_log,
        "cases": {n: _case_summary(by_name[n], runs[n], errors[n]) for n in names},
        "ratios": {q.name: _ratio_summary(q, runs) for q in ratios},
        "load_average_before": machine["load_average"],
        "load_average_after": list(os.getloadavg()),
    }


def _rounds(by_name: dict[str, Case], rounds: int, order: str, seed: int, log) -> tuple:
    """(runs per case, errors per case, round log); a case that failed is not run again."""
    runs: dict[str, list[dict | None]] = {n: [] for n in by_name}
    errors: dict[str, list[str]] = {n: [] for n in by_name}
    round_log = []
    for r in range(rounds):
        seq = round_order(list(by_name), r, order, seed)
        round_log.append({"round": r, "order": seq, "load_1min": os.getloadavg()[0]})
        for n in seq:
            res, failed_before = None, bool(errors[n])
            if not failed_before:
                try:
                    res = run_case(by_name[n])
                except CaseFailed as exc:
                    errors[n].append(f"round {r}: {exc}")
            runs[n].append(res)
            if log:
                done = "skipped (failed before)" if failed_before else "FAILED"
                done = f"{res['measures']['process_seconds']:.1f} s" if res else done
                log(f"round {r + 1}/{rounds}  {n:<24} {done}  load {os.getloadavg()[0]:.2f}")
    return runs, errors, round_log


def _case_summary(case: Case, runs: list[dict | None], errors: list[str]) -> dict:
    done = [x for x in runs if x]
    keys = list(dict.fromkeys(k for x in done for k in x["measures"]))
    info = dict(done[0]["info"]) if done else {}
    varied = sorted(k for k in info if any(x["info"].get(k) != info[k] for x in done))
    return {
        "spec": case.spec(),
        "measures": {
            k: summarize([x["measures"][k] for x in done if k in x["measures"]]) for k in keys
        },  # fmt: skip
        "info": info,
        "info_varied": varied,
        "load_1min_before": [x["load_1min_before"] for x in done],
        "errors": errors,
    }


def _ratio_summary(q: Ratio, runs: dict[str, list[dict | None]]) -> dict:
    per_round = []
    for a, b in zip(runs.get(q.num[0], []), runs.get(q.den[0], []), strict=False):
        x = a and a["measures"].get(q.num[1])
        y = b and b["measures"].get(q.den[1])
        if x is not None and y:
            per_round.append(x / y)
    return {"num": list(q.num), "den": list(q.den), **summarize(per_round)}


def run_once(case: Case) -> dict:
    """One fresh-process run of ``case`` (an untimed check, a set-up step): its JSON object,
    ``process_seconds`` and ``process_cpu_seconds`` added.  Raises :class:`CaseFailed`."""
    res = run_case(case)
    m = res["measures"]
    return dict(res["raw"], process_seconds=m["process_seconds"],
                process_cpu_seconds=m["process_cpu_seconds"])  # fmt: skip


def add_arguments(ap: argparse.ArgumentParser, rounds: int = 5, quick_rounds: int = 2) -> None:
    """The options every ported bench shares: --rounds, --quick, --order, --seed, --out."""
    ap.add_argument("--rounds", type=int, default=None,
                    help=f"fresh-process rounds per case (default {rounds}; {quick_rounds} "
                    "with --quick)")  # fmt: skip
    ap.add_argument("--quick", action="store_true",
                    help="a fast smoke run with small settings; results go to "
                    "bench/results/quick/")  # fmt: skip
    ap.add_argument("--order", choices=("alternate", "shuffle"), default="alternate",
                    help="case order per round: A B C, C B A, ... or a seeded shuffle")  # fmt: skip
    ap.add_argument("--seed", type=int, default=0, help="seed of --order shuffle")
    ap.add_argument("--out", type=Path, default=None, help="results file (default: see --quick)")
    ap.set_defaults(_rounds=(rounds, quick_rounds))


def rounds_of(args: argparse.Namespace) -> int:
    """--rounds, or the bench's default for a full or a --quick run."""
    full, quick = args._rounds
    n = args.rounds if args.rounds is not None else (quick if args.quick else full)
    if n < 1:
        raise SystemExit("error: --rounds must be at least 1")
    return n


def result_path(args: argparse.Namespace, name: str) -> Path:
    """--out, else bench/results/<name>.json (bench/results/quick/ for --quick runs)."""
    if args.out is not None:
        return Path(args.out)
    return (RESULTS / "quick" if args.quick else RESULTS) / f"{name}.json"


def write(result: dict, path: Path) -> Path:
    """Write ``result`` as indented JSON to ``path`` (folders made); the path."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(result, indent=2) + "\n")
    return path


def table(result: dict, show: dict[str, Sequence[str]] | None = None) -> str:
    """A short text table: per case the chosen measures (``show``: case -> measures; default
    all), then the ratios; median [min - max], relative spread, n."""

    def row(label: str, s: dict) -> str:
        if not s.get("n"):
            return f"  {label:<44} (no values)"
        spread = f"{s['spread']:6.1%}" if s.get("spread") is not None else "     -"
        return (f"  {label:<44} {s['median']:>11.4g}  [{s['min']:.4g} - {s['max']:.4g}]"
                f"  spread {spread}  n={s['n']}")  # fmt: skip

    lines = [f"{result['bench']}: {result['settings']['rounds']} rounds, load "
             f"{result['load_average_before'][0]:.2f} -> {result['load_average_after'][0]:.2f}"
             f" on {result['machine']['cpu_count']} cores"]  # fmt: skip
    for name, c in result["cases"].items():
        lines.append(f"{name}:" + ("  FAILED: " + c["errors"][0] if c["errors"] else ""))
        keys = (show or {}).get(name, list(c["measures"]))
        lines += [row(k, c["measures"][k]) for k in keys if k in c["measures"]]
    if result["ratios"]:
        lines.append("ratios (per round):")
        lines += [row(k, s) for k, s in result["ratios"].items()]
    return "\n".join(lines)
