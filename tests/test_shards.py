"""Sharded precursor screens: exact merge, the local and Ray executors, resume, planning.

The merge test screens all 3^9 patterns (forward screen: one pass) in 7 uneven shards;
the Ray tests start a local 2-worker cluster and are skipped, with the reason printed,
where Ray cannot be imported.
"""

from __future__ import annotations

import json
import os
import signal

import numpy as np
import pytest
from helpers import argv

from oipviz.compute.precursor_settings import PrecursorSettings
from oipviz.compute.screens import drop_duplicate_flats, forward_table, rank
from oipviz.compute.shards import (
    ScreenSpec,
    Shard,
    merge,
    merged_candidates,
    screen_shard,
    with_merged_screen,
)
from oipviz.core.status import fires

VALUES = (0.2, 0.5, 0.8)
# conv3 map 44 is zero on every pattern (all ties); 49 fires on few; 46 on many
MAPS = [46, 44, 49]
UNEVEN = [0, 5, 1000, 1001, 4100, 9000, 15000, 19683]  # 7 shards, one of a single pattern
SMALL = ["--grid", "2", "--test-epochs", "2", "--epochs", "20", "--top", "3"]


def _spec(n_maps, grid, screen, test_steps, chunk, top):
    s = PrecursorSettings.checked(
        grid=grid, values=VALUES, screen=screen, test_steps=test_steps, chunk=chunk, top=top
    )
    return ScreenSpec.of("conv3", n_maps, s)


def _shard_all(loaded, spec, bounds, maps):
    res = [screen_shard(loaded, spec, Shard(tuple(maps), a, b)) for a, b in zip(bounds, bounds[1:])]
    return merge(res[::-1], spec), res  # the order shards finish in is free


def test_uneven_shards_merge_to_the_unsharded_top_k(loaded):
    spec = _spec(3, 3, "forward", 0, 1024, 8)
    merged, parts = _shard_all(loaded, spec, UNEVEN, MAPS)
    idx = np.arange(spec.n)
    table = forward_table(loaded, "conv3", MAPS, idx, spec.settings)
    pre = forward_table(loaded, "conv3", MAPS, idx, spec.settings, pre=True)
    assert all(r.to_arrays()["top_idx"].nbytes <= 3 * 8 * 8 for r in parts)  # small results
    for j, m in enumerate(MAPS):
        mg, col = merged[m], table[:, j]
        top = rank(col, 8)
        assert np.array_equal(mg.top_idx, top) and np.array_equal(mg.top_val, col[top])
        assert np.array_equal(mg.losses, col)
        assert mg.counts == {"screened": spec.n, "zero": int((~fires(col)).sum()), "pruned": 0}
        zero = np.flatnonzero(~fires(col))
        if len(zero) > spec.n - 8:  # the wake tops up from these (one flat pattern only)
            zero = drop_duplicate_flats(zero, 3, len(VALUES))
            assert np.array_equal(mg.near_idx, zero[rank(pre[zero, j], 8 + 3)])
    assert np.array_equal(merged[44].top_idx, np.arange(8))  # all tied at zero: lowest indices
    assert merged[44].counts["zero"] == spec.n
    assert fires(merged[46].top_val).all() and not fires(merged[44].top_val).any()


def test_exhaustive_shards_and_candidates_match_the_unsharded_run(loaded):
    from dataclasses import replace

    from oipviz.compute.precursor import precursor_maps
    from oipviz.compute.screens import Screened, candidates
    from oipviz.core.ascent import AscentResult

    # uneven shards on chunk boundaries: every engine batch is the unsharded run's, so the
    # ascent is bit-identical (a batch of other images can change the last bit of a step)
    kw = dict(grid=2, values=VALUES, test_steps=2, top=4, steps=20, chunk=4, screen="exhaustive")
    ref = {r.map: r for r in precursor_maps("conv3", MAPS, loaded, **kw)}
    spec = _spec(3, 2, "exhaustive", 2, 4, 4)
    for m in MAPS:
        merged, _ = _shard_all(loaded, spec, [0, 4, 8, 20, 40, 48, 76, 81], [m])
        mg, r = merged[m], ref[m]
        assert np.array_equal(mg.losses, r.screen_losses)
        cands = merged_candidates(mg, spec)
        assert np.array_equal(cands[0], r.top_indices)
        idx = np.arange(81)
        screened = Screened(r.screen_losses, r.screen_steps, idx, None, 0.0, 0)
        assert np.array_equal(cands[0], candidates(loaded, "conv3", m, screened, spec.settings)[0])
        if "pruned" in AscentResult.__dataclass_fields__:  # the engine skips still images
            assert mg.counts["pruned"] == mg.counts["zero"]  # at zero: no gradient, not stepped
    # large runs keep only the top-k: the result still reports every pattern screened
    small = _spec(1, 2, "exhaustive", 2, 4, 4)
    big = replace(small, keep_losses=False)
    merged, _ = _shard_all(loaded, big, [0, 40, 81], [46])
    res = with_merged_screen(ref[46], merged[46], big)
    assert res.n_screened == 81 and np.count_nonzero(~np.isnan(res.screen_losses)) < 81
    assert np.array_equal(res.top_losses, ref[46].top_losses)


def test_local_executor_is_byte_identical_to_precursor_maps(loaded):
    from oipviz.compute.executors import executor
    from oipviz.compute.precursor import precursor_maps
    from oipviz.compute.scaleout import precursor_run

    for screen in ("exhaustive", "forward"):
        kw = dict(grid=2, values=VALUES, test_steps=2, top=3, steps=30, screen=screen, chunk=16)
        a = list(precursor_maps("conv3", MAPS, loaded, **kw))
        with executor("local", loaded) as ex:
            b = list(precursor_run(ex, "conv3", MAPS, shard_size=20, **kw))
        assert [r.map for r in b] == MAPS
        for x, y in zip(a, b):
            for f in ("top_indices", "images", "final", "history", "screen_losses", "screen_steps"):
                assert np.array_equal(getattr(x, f), getattr(y, f)), (screen, x.map, f)
            assert x.summary() == y.summary() and x.note == y.note


def test_cli_plans_then_resumes_shard_by_shard(cli, tmp_path, monkeypatch):
    out = tmp_path / "pre"
    args = argv(
        "precursor --layer conv3 --map 46", *SMALL, *argv("--chunk 16 --shard-size 20 --out", out)
    )
    import oipviz.compute.scaleout as S

    real, calls = S.screen_shard, []

    def interrupted(loaded, spec, shard, progress=None):
        if not spec.keep_losses:  # the timed probe shards of the plan
            return real(loaded, spec, shard, progress)
        calls.append(shard.start)
        if len(calls) == 3:
            raise KeyboardInterrupt
        return real(loaded, spec, shard, progress)

    monkeypatch.setattr(S, "screen_shard", interrupted)
    r = cli(*args)
    assert r.exit_code == 130, (r.stdout, r.stderr)
    assert "81 patterns (2×2 grid, 3 values)" in r.stderr and "3 shard(s) of ≤ 32" in r.stderr
    assert "estimated" in r.stderr and "image-steps/s" in r.stderr
    kept = sorted(p.name for p in (out / "shards" / "map046").iterdir())
    assert kept == [
        "00000000-00000032.json",
        "00000000-00000032.npz",
        "00000032-00000064.json",
        "00000032-00000064.npz",
    ]
    assert (out / ".incomplete").exists()
    meta = json.loads((out / "shards" / "map046" / "00000000-00000032.json").read_text())
    assert meta["counts"]["46"]["screened"] == 32 and meta["spec"]["screen"] == "exhaustive"
    calls.clear()
    monkeypatch.setattr(S, "screen_shard", interrupted)  # counts the shards computed again
    r = cli(*args, "--resume", "--quiet")
    assert r.exit_code == 0, (r.stdout, r.stderr)
    assert calls == [64] and not (out / ".incomplete").exists()
    fresh = tmp_path / "fresh"
    monkeypatch.setattr(S, "screen_shard", real)
    assert cli(*args[:-1], fresh, "--quiet").exit_code == 0
    for f in ("screen_losses.npy", "refine_history.npy", "best.npy", "oip_1_gray.png"):
        assert (out / f).read_bytes() == (fresh / f).read_bytes(), f


@pytest.mark.parametrize(
    "args, fragment",
    [
        (["--address", "127.0.0.1:6379"], "--address needs --executor ray"),
        (["--screen", "halving", "--executor", "ray"], "not sharded"),
        (
            ["--executor", "ray", "--address", "127.0.0.1:1"],
            "cannot reach a Ray cluster at 127.0.0.1:1",
        ),
    ],
)
def test_cli_executor_errors(cli, user_error, tmp_path, args, fragment):
    out = tmp_path / "bad"
    user_error(cli("precursor", "--layer", "conv3", "--map", "46", "--out", out, *args), fragment)
    assert not out.exists()


# --------------------------------------------------------------------------- Ray


def _our_busy_workers() -> list[int]:
    """Ray workers of this test's cluster (descendants of this process) running a shard."""

    def parent(pid: int) -> int:
        with open(f"/proc/{pid}/stat") as f:
            return int(f.read().rsplit(")", 1)[1].split()[1])

    out = []
    for p in filter(str.isdigit, os.listdir("/proc")):
        try:
            with open(f"/proc/{p}/cmdline", "rb") as f:
                if not f.read().startswith(b"ray::oipviz shard"):
                    continue
            q = int(p)
            while q > 1 and q != os.getpid():
                q = parent(q)
        except (OSError, ValueError, IndexError):
            continue
        if q == os.getpid():
            out.append(int(p))
    return out


def test_ray_cli_is_byte_identical_to_local(ray_cluster, cli, tmp_path):
    maps = ",".join(map(str, MAPS))
    args = argv(
        f"precursor --layer conv3 --map {maps} --screen forward --epochs 30 --top 4 --quiet"
    )
    r = cli(*args, "--out", tmp_path / "local")
    assert r.exit_code == 0, (r.stdout, r.stderr)
    r = cli(*args, "--out", tmp_path / "ray", "--executor", "ray")
    assert r.exit_code == 0, (r.stdout, r.stderr)
    man = json.loads((tmp_path / "ray" / "manifest.json").read_text())
    assert man["executor"] == {"name": "ray", "workers": 2, "cores": 2}
    pids = {json.loads(p.read_text())["pid"] for p in (tmp_path / "ray" / "shards").rglob("*.json")}
    assert os.getpid() not in pids  # computed by the workers
    for m in MAPS:
        a, b = tmp_path / "local" / f"map{m:03d}", tmp_path / "ray" / f"map{m:03d}"
        files = sorted(p.name for p in a.iterdir() if p.suffix in (".npy", ".png"))
        assert files and files == sorted(
            p.name for p in b.iterdir() if p.suffix in (".npy", ".png")
        )
        for f in files:
            assert (a / f).read_bytes() == (b / f).read_bytes(), (m, f)


def test_ray_run_survives_a_killed_worker(ray_cluster, loaded):
    from oipviz.compute.executors import RayExecutor, executor
    from oipviz.compute.scaleout import precursor_run

    kw = dict(grid=3, values=VALUES, test_steps=1, top=3, steps=30, chunk=256, shard_size=1024)
    with executor("local", loaded) as ex:
        ref = next(precursor_run(ex, "conv3", [46], **kw))
    killed = []

    class KillOnce:
        def load(self, spec, shards):
            return {}

        def save(self, spec, res):
            busy = _our_busy_workers()
            if not killed and busy:
                os.kill(busy[0], signal.SIGKILL)
                killed.append(busy[0])

    with RayExecutor(loaded, max_retries=3) as ex:
        res = next(precursor_run(ex, "conv3", [46], store=KillOnce(), **kw))
    assert killed, "no busy worker was found to kill"
    assert np.array_equal(res.top_indices, ref.top_indices)
    assert np.array_equal(res.images, ref.images) and np.array_equal(
        res.screen_losses, ref.screen_losses
    )


def test_ray_shard_that_keeps_failing_stops_with_one_line(ray_cluster, loaded):
    from oipviz.compute.executors import ModelBundle, RayExecutor, ShardError
    from oipviz.compute.scaleout import precursor_run

    with RayExecutor(loaded, max_retries=1) as ex:
        ex.bundle = ray_cluster.put(ModelBundle("broken.keras", b"not a model", None, None))
        with pytest.raises(ShardError) as info:
            list(precursor_run(ex, "conv3", [46], grid=2, test_steps=1, steps=2, top=2))
    msg = str(info.value)
    assert "\n" not in msg and "failed 2 time(s)" in msg and "ModelError" in msg
    assert "--resume" in msg and msg.startswith("shard map046/")
