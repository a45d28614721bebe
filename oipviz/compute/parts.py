"""OIPs of many maps computed in fixed parts, each kept as soon as it is done, so an
interrupted run (Ctrl-C, SIGTERM, SIGKILL) resumes part by part with the same bytes.

A *store* keeps parts: :class:`HeldParts` in memory (a job that runs elsewhere, e.g. a Ray
task, returns its new parts), or :class:`oipviz.writers.oip.FolderParts` in an output
folder."""

from __future__ import annotations

from collections.abc import Callable
from typing import Protocol

from oipviz.compute.oip import OIPRun
from oipviz.core.convention import InputConvention

#: images per resumable part of a multi-map run (fixed, so a resumed run gives the same bytes)
PART_IMAGES = 512


class PartStore(Protocol):
    """Where parts are kept: ``load(group)`` (None if missing) and ``save(group, run)``."""

    def load(self, group: list[int]) -> OIPRun | None: ...

    def save(self, group: list[int], run: OIPRun) -> None: ...


def parts(maps: list[int], inits: int) -> list[list[int]]:
    """The fixed groups of maps a run is computed in."""
    per = max(1, PART_IMAGES // inits)
    return [maps[i : i + per] for i in range(0, len(maps), per)]


class HeldParts:
    """Parts held in memory, for a job that runs elsewhere: ``have`` {first map: arrays}
    are the finished ones; the new ones are collected in ``new`` (the same form) for the
    caller to keep."""

    def __init__(
        self, have: dict, convention: InputConvention | None = None, transforms: tuple = ()
    ):
        self.have: dict[int, dict] = dict(have)
        self.new: dict[int, dict] = {}
        self.convention, self.transforms = convention, transforms

    def load(self, group: list[int]) -> OIPRun | None:
        have = self.have.get(group[0])
        return None if have is None else OIPRun.from_arrays(have, self.convention, self.transforms)

    def save(self, group: list[int], run: OIPRun) -> None:
        self.new[group[0]] = run.to_arrays()


def run_in_parts(
    store: PartStore,
    maps: list[int],
    inits: int,
    compute: Callable[[list[int]], OIPRun],
    on_skip: Callable[[int], None] | None = None,
) -> OIPRun:
    """``compute(group)`` for each group of maps that ``store`` lacks, saved there as soon
    as it is done; returns the whole run.  An interrupted group is never kept:
    KeyboardInterrupt propagates and the finished parts stay for --resume."""
    runs = []
    for group in parts(maps, inits):
        run = store.load(group)
        if run is not None:
            runs.append(run)
            if on_skip:
                on_skip(len(group))
            continue
        run = compute(group)
        if run.interrupted:
            raise KeyboardInterrupt
        store.save(group, run)
        runs.append(run)
    return OIPRun.concat(runs)
