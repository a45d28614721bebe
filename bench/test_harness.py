"""Light checks of bench/harness.py (bench code, not part of CI's suite).

    cd <checkout> && /work/venv/bin/python -m pytest -q bench/test_harness.py

The cases below run in fresh processes: this module is imported there by name.
"""

from __future__ import annotations

import json
import math
import os
import sys
import time
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))
import harness  # noqa: E402


def sleeper(seconds: float) -> dict:
    """A tiny timed case: sleeps, then does a little arithmetic."""
    start = time.time()
    t = time.perf_counter()
    time.sleep(seconds)
    total = sum(math.sqrt(i) for i in range(20_000))
    return {
        "seconds": time.perf_counter() - t,
        "pid": os.getpid(),
        "started": start,
        "nested": {"sum": total},
        "info": {"what": "sleep"},
        "label": f"slept {seconds}",
    }


def broken() -> dict:
    raise RuntimeError("this case is broken on purpose")


def _cases(tmp_path: Path) -> list[harness.Case]:
    cmd = "import json, os, time; print('noise'); print(json.dumps({'pid': os.getpid(), 'started': time.time(), 'value': 3.0}))"  # noqa: E501
    return [
        harness.Case("short", call="test_harness:sleeper", kwargs={"seconds": 0.05}),
        harness.Case("long", call="test_harness:sleeper", kwargs={"seconds": 0.2}),
        harness.Case("command", argv=[sys.executable, "-c", cmd], env={"BENCH_TEST": "1"}),
    ]


def test_rounds_fresh_processes_interleaved_and_ratios(tmp_path):
    cases = _cases(tmp_path)
    ratios = [harness.Ratio("long_over_short", ("long", "seconds"), ("short", "seconds"))]
    res = harness.run("selftest", cases, ratios, rounds=2, log=None)
    c = res["cases"]
    # every run is a process of its own, none of them this one
    pids = [p for n in c for p in c[n]["measures"]["pid"]["values"]]
    assert len(set(pids)) == 6 and os.getpid() not in pids
    # interleaved: round 1 runs short, long, command; round 2 command, long, short
    starts = {n: c[n]["measures"]["started"]["values"] for n in c}
    assert starts["short"][0] < starts["long"][0] < starts["command"][0]
    assert starts["command"][1] < starts["long"][1] < starts["short"][1]
    assert starts["command"][0] < starts["command"][1]
    assert [r["order"] for r in res["rounds"]] == [
        ["short", "long", "command"],
        ["command", "long", "short"],
    ]
    # measures: numbers (nested flattened), the harness's own, info kept
    s = c["long"]["measures"]["seconds"]
    assert s["n"] == 2 and s["min"] <= s["median"] <= s["max"] and s["min"] >= 0.19
    assert s["median"] == pytest.approx(sum(s["values"]) / 2)
    assert s["spread"] == pytest.approx((s["max"] - s["min"]) / s["median"])
    assert "nested.sum" in c["long"]["measures"]
    assert c["long"]["measures"]["process_seconds"]["min"] > s["min"]
    assert c["long"]["info"] == {"what": "sleep", "label": "slept 0.2"}
    assert c["command"]["measures"]["value"]["values"] == [3.0, 3.0]
    assert c["command"]["spec"]["env"] == {"BENCH_TEST": "1"}
    # ratios are per round, A_i / B_i
    q = res["ratios"]["long_over_short"]
    short = c["short"]["measures"]["seconds"]["values"]
    want = [a / b for a, b in zip(s["values"], short, strict=True)]
    assert q["values"] == pytest.approx(want) and q["n"] == 2 and q["median"] > 1.5
    # the machine
    m = res["machine"]
    assert m["cpu_count"] == os.cpu_count() and len(m["load_average"]) == 3
    assert "avx2" in m["cpu"]["flags"] and "amx_bf16" in m["cpu"]["flags"]
    assert m["versions"]["numpy"] and m["date"] and "commit" in m["git"]
    assert len(res["load_average_after"]) == 3


def test_failures_are_recorded_and_not_rerun(tmp_path):
    cases = [
        harness.Case("ok", call="test_harness:sleeper", kwargs={"seconds": 0.0}),
        harness.Case("bad", call="test_harness:broken"),
        harness.Case("silent", argv=[sys.executable, "-c", "print('not json')"]),
    ]
    res = harness.run("selftest", cases, [harness.Ratio("r", ("ok", "seconds"), ("bad", "x"))],
                      rounds=2, log=None)  # fmt: skip
    bad, silent = res["cases"]["bad"], res["cases"]["silent"]
    assert len(bad["errors"]) == 1 and "broken on purpose" in bad["errors"][0]
    assert "not JSON" in silent["errors"][0]
    assert bad["measures"] == {} and res["cases"]["ok"]["measures"]["seconds"]["n"] == 2
    assert res["ratios"]["r"]["n"] == 0
    assert "FAILED" in harness.table(res)
    with pytest.raises(harness.CaseFailed, match="broken on purpose"):
        harness.run_once(cases[1])


def test_shuffle_order_is_seeded_and_complete():
    names = list("ABCDE")
    a = [harness.round_order(names, r, "shuffle", 7) for r in range(4)]
    assert a == [harness.round_order(names, r, "shuffle", 7) for r in range(4)]
    assert all(sorted(x) == names for x in a) and len({tuple(x) for x in a}) > 1
    assert harness.round_order(names, 1, "alternate", 0) == list("EDCBA")


def test_write_and_table(tmp_path):
    res = harness.run("selftest", _cases(tmp_path)[:1], rounds=1, log=None)
    path = harness.write(res, tmp_path / "sub" / "selftest.json")
    back = json.loads(path.read_text())
    assert back["cases"]["short"]["measures"]["seconds"]["n"] == 1
    text = harness.table(back, show={"short": ["seconds"]})
    assert "short:" in text and "seconds" in text and "process_seconds" not in text
