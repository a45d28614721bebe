"""Shard results as small files in an output folder: ``shards/<maps>/<start>-<stop>.npz``
(the arrays) and ``.json`` (spec, counts, seconds, host).  A killed run resumes shard by
shard, on any executor: finished shards are loaded instead of computed."""

from __future__ import annotations

from oipviz.compute.shards import ScreenSpec, Shard, ShardResult
from oipviz.core.folders import OutputFolder
from oipviz.core.outputs import load_npz, read_json, save_npz, write_json

FOLDER = "shards"


class ShardStore:
    """Shard files inside ``out`` (an :class:`~oipviz.core.outputs.OutputFolder`)."""

    def __init__(self, out: OutputFolder):
        self.root = out.path / FOLDER

    def _paths(self, shard: Shard):
        base = self.root / shard.name
        return base.with_suffix(".npz"), base.with_suffix(".json")

    def save(self, spec: ScreenSpec, res: ShardResult) -> None:
        """Write one finished shard (the .json last: it marks the shard as done)."""
        npz, meta = self._paths(res.shard)
        npz.parent.mkdir(parents=True, exist_ok=True)
        save_npz(npz, res.to_arrays())
        write_json(meta, dict(res.meta(), spec=spec.as_dict()))

    def load(self, spec: ScreenSpec, shards: list[Shard]) -> dict[Shard, ShardResult]:
        """The finished shards among ``shards`` (computed with the same spec)."""
        done = {}
        want = spec.as_dict()
        for s in shards:
            npz, meta = self._paths(s)
            m = read_json(meta)
            if not m or m.get("spec") != want:
                continue
            a = load_npz(npz)
            if (
                a is None
                or [int(v) for v in a["range"]] != [s.start, s.stop]
                or tuple(int(v) for v in a["maps"]) != s.maps
                or (spec.keep_losses and "losses" not in a)
            ):
                continue
            done[s] = ShardResult.from_arrays(a, m)
        return done
