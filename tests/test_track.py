"""The timeline's parts that need no training: what is tracked and when (checked before
training), the states over time, deterministic arrays, charts, the output checks."""

from __future__ import annotations

import zipfile

import numpy as np
import pytest

from oipviz.compute.oip import OIPRun
from oipviz.core.checks import parse_maps
from oipviz.core.errors import LayerError, OipvizError, OutputError
from oipviz.core.outputs import save_npz_compressed
from oipviz.render import svg
from oipviz.timeline.point import Position, Timeline, TimelinePoint
from oipviz.timeline.spec import Schedule, TrackSpec, normalize_layers, parse_every
from oipviz.timeline.writer import check_target


@pytest.mark.parametrize(
    "every, kind, n, epochs",
    [
        ("epoch", "epoch", 1, ()),
        (" Epoch ", "epoch", 1, ()),
        (50, "batches", 50, ()),
        ("batch:20", "batches", 20, ()),
        ("7", "batches", 7, ()),
        ([0, 1, 2, 5, 10], "epochs", 1, (0, 1, 2, 5, 10)),
        (range(0, 11, 5), "epochs", 1, (0, 5, 10)),
        ((5, 1, 1), "epochs", 1, (1, 5)),
    ],
)
def test_every_values(every, kind, n, epochs):
    s = parse_every(every)
    assert (s.kind, s.n, s.epochs) == (kind, n, epochs)


@pytest.mark.parametrize(
    "every, fragment",
    [
        ("fortnight", "use 'epoch'"),
        (0, "1 or more"),
        (-3, "1 or more"),
        (2.5, "1 or more"),
        (True, "bad every"),
        (None, "bad every"),
        ([], "empty"),
        ([1, -1], "must be >= 0"),
        (["x"], "integer"),
        ("batch:", "bad every"),
    ],
)
def test_bad_every_is_one_line_error(every, fragment):
    with pytest.raises(OipvizError) as e:
        parse_every(every)
    assert fragment in str(e.value) and "\n" not in str(e.value)


def test_schedule_points():
    assert Schedule().at_start and Schedule().after_epoch(3)
    s = parse_every([2, 4])
    assert not s.at_start and [e for e in range(6) if s.after_epoch(e)] == [2, 4]
    b = parse_every(10)
    assert b.at_start and [k for k in range(1, 31) if b.after_batch(k)] == [10, 20, 30]
    assert not b.after_epoch(1)


def test_layers_and_maps():
    assert normalize_layers({"conv3": range(3)}) == {"conv3": [0, 1, 2]}
    assert normalize_layers("conv3:0-15") == {"conv3": "0-15"}
    assert normalize_layers(["conv2:1,3", "conv3"]) == {"conv2": "1,3", "conv3": "all"}
    assert parse_maps("0-3,7", 128, "conv3") == [0, 1, 2, 3, 7]
    assert parse_maps("all", 4, "c") == [0, 1, 2, 3]
    for bad, fragment in (("0-200", "out of range"), ("5-2", "bad --map"), ("x", "bad --map")):
        with pytest.raises(LayerError, match=fragment):
            parse_maps(bad, 128, "conv3")
    for bad in ({}, [":0-3"], {"conv3": []}, 42, {"conv3": ["a"]}):
        with pytest.raises(OipvizError):
            normalize_layers(bad)


def test_spec_checks_its_settings():
    with pytest.raises(OipvizError, match="steps"):
        TrackSpec({"conv3": [0]}, steps=0)
    with pytest.raises(OipvizError, match="lr"):
        TrackSpec({"conv3": [0]}, lr=float("nan"))
    with pytest.raises(OipvizError, match="attribution"):
        TrackSpec({"conv3": [0]}, attribution="occlusion")
    with pytest.raises(OipvizError, match="bad every"):
        TrackSpec({"conv3": [0]}, every="sometimes")


def _point(t: int, values: list[float]) -> TimelinePoint:
    m = len(values)
    v = np.asarray(values, np.float32)[:, None]
    run = OIPRun(
        "conv3", "mean", list(range(m)), np.zeros((m, 1, 28, 28, 1), np.float32), v, v,
        v[None], np.zeros(1), 5, False, range_mode="valid",
    )  # fmt: skip
    return TimelinePoint(
        Position(t, float(t), 10 * t, f"epoch {t}"),
        {"conv3": run},
        {"conv3": np.ones((2, 3, 3, m), np.float32) * t},
        np.zeros((1, 28, 28), np.float32),
        np.zeros(1, np.int64),
        np.ones(1, np.float32),
        np.zeros((4, 1, 3, 3), np.float32),
        "conv1",
        {"loss": 1.0 / (t + 1)} if t else {},
    )


def test_states_waking_and_events():
    tl = Timeline(
        [_point(0, [0.0, 1.0, 0.0]), _point(1, [0.5, 0.0, 0.0]), _point(2, [0.7, 0.0, 2.0])]
    )
    assert tl.states("conv3") == [
        ["dead", "live", "dead"],
        ["waking", "dead", "dead"],
        ["live", "dead", "waking"],
    ]
    assert [(e["map"], e["point"], e["change"]) for e in tl.events("conv3")] == [
        (0, 1, "woke"),
        (1, 1, "died"),
        (2, 2, "woke"),
    ]
    assert tl.values("conv3").shape == (3, 3)
    np.testing.assert_allclose(tl.probe_means("conv3")[:, 0], [0, 1, 2])
    assert np.isnan(tl.metric("loss")[0]) and tl.metric("loss")[2] == pytest.approx(1 / 3)


def test_point_arrays_round_trip_with_deterministic_bytes(tmp_path, monkeypatch):
    """The output layer's compressed .npz: the same arrays give the same bytes whenever
    they are written (no time stamps), and the point reads back."""
    import time

    p = _point(3, [0.0, 2.5])
    a = save_npz_compressed(tmp_path / "a.npz", p.to_arrays()).read_bytes()
    later = time.time() + 86_400 * 400  # a year and a bit later: other zip dates if stamped
    monkeypatch.setattr(time, "time", lambda: later)
    b = save_npz_compressed(tmp_path / "b.npz", _point(3, [0.0, 2.5]).to_arrays()).read_bytes()
    assert a == b
    with zipfile.ZipFile(tmp_path / "a.npz") as zf:
        infos = zf.infolist()
        assert {i.date_time for i in infos} == {(1980, 1, 1, 0, 0, 0)}
        assert {i.compress_type for i in infos} == {zipfile.ZIP_DEFLATED}
    assert sorted(x.name for x in tmp_path.iterdir()) == ["a.npz", "b.npz"]  # no temp left
    with np.load(tmp_path / "a.npz") as f:
        back = TimelinePoint.from_arrays({k: f[k] for k in f.files})
    assert back.position == p.position and back.metrics == p.metrics
    np.testing.assert_array_equal(back.values("conv3"), p.values("conv3"))
    np.testing.assert_array_equal(back.probe_acts["conv3"], p.probe_acts["conv3"])


def test_svg_panel_gaps_and_cursor():
    text = svg.panel(
        "t", np.arange(4.0), [svg.Series(np.array([np.nan, 1, 2, np.nan]), "a", "#000")]
    )
    assert text.startswith("<svg") and text.count("<polyline") == 1 and 'class="cursor"' in text
    lone = svg.panel("t", np.arange(3.0), [svg.Series(np.array([1.0, np.nan, 2.0]), "a", "#000")])
    assert lone.count("<circle") == 2 and "<polyline" not in lone


def test_output_checks(tmp_path):
    (tmp_path / "old").mkdir()
    (tmp_path / "old" / "mine.txt").write_text("user data")
    with pytest.raises(OutputError, match="already exists"):
        check_target(tmp_path / "old")
    with pytest.raises(OutputError, match="not empty"):
        check_target(tmp_path / "old", force=True)
    with pytest.raises(OutputError, match="does not exist"):
        check_target(tmp_path / "missing" / "t")
    with pytest.raises(OutputError, match="does not exist"):
        check_target(tmp_path / "new", resume=True)
    assert check_target(tmp_path / "new") == tmp_path / "new"
    assert not (tmp_path / "new").exists()


def test_sheet_and_strip_show_their_whole_title():
    """A timeline of few points still shows the sheet's and the strip's title in full."""
    from oipviz.render import timeline as pictures

    title = "conv3: OIPs, a row per map, a column per point"
    grey, colour = np.full((28, 28), 0.5, np.float32), np.full((32, 32, 3), 0.5, np.float32)
    for img in (grey, colour):
        pics = (
            pictures.sheet([[img, img]], [0, 1], ["epoch 0"], [["live", "dead"]], title),
            pictures.strip([img], ["epoch 0"], ["live"], title),
        )
        for pic in pics:
            band = np.asarray(pic.convert("L"))[:20]  # the title's rows
            ink = np.nonzero((band < 128).any(axis=0))[0]
            assert ink.size and ink.max() < pic.width - 2  # ends inside the picture
            assert ink.max() > pic.width * 0.8  # and the picture is not much wider
