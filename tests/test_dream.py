"""DeepDream: image reading, modes kept, detail kept, no seams, determinism, bad inputs.

Real engine, real bundled model, real image files (tests/data, made by make_data.py, and
matplotlib's sample photo of Grace Hopper), few ascent steps.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest
from PIL import Image

from oipviz.core.errors import ImageError
from oipviz.core.images import from_float, read_image, to_float

DATA = Path(__file__).parent / "data"


@pytest.fixture(scope="module")
def hopper() -> Path:
    """A real colour photo (512×600 JPEG) shipped with matplotlib."""
    import matplotlib.cbook as cbook

    return Path(cbook.get_sample_data("grace_hopper.jpg", asfileobj=False))


def _pixels(path) -> np.ndarray:
    with Image.open(path) as im:
        return np.asarray(im)


def _highpass(a: np.ndarray, sigma: float = 1.5) -> np.ndarray:
    a = np.asarray(a, np.float32)
    return a - cv2.GaussianBlur(a, (0, 0), sigma)


def _jump_ratio(a: np.ndarray, t: int, phase: int = 0) -> float:
    """Mean |jump| between neighbours across tile borders (x ≡ phase mod t) / inside tiles."""
    dx = np.abs(np.diff(a, axis=1))
    dy = np.abs(np.diff(a, axis=0))
    bx = (np.arange(dx.shape[1]) + 1) % t == phase
    by = (np.arange(dy.shape[0]) + 1) % t == phase
    border = np.concatenate([dx[:, bx].ravel(), dy[by, :].ravel()]).mean()
    inside = np.concatenate([dx[:, ~bx].ravel(), dy[~by, :].ravel()]).mean()
    return float(border / inside)


# ------------------------------------------------------------------ reading images (no TF)
@pytest.mark.parametrize(
    "name,pil_mode,mode,size",
    [
        ("photo.png", "RGB", "RGB", (96, 96)),
        ("gray.png", "L", "L", (96, 96)),
        ("rgba.png", "RGBA", "RGBA", (96, 96)),
        ("palette.png", "P", "RGB", (96, 96)),
        ("gray16.tif", "I;16", "I;16", (64, 64)),
        ("exif_rot.jpg", "RGB", "RGB", (48, 80)),
    ],
)
def test_read_image_opens_each_format(name, pil_mode, mode, size):
    img = read_image(DATA / name)
    planes = to_float(img)
    assert img.mode == pil_mode and img.size == size
    assert planes.mode == mode and planes.luma.shape == (size[1], size[0])
    assert planes.luma.dtype == np.float32 and 0 <= planes.luma.min() < planes.luma.max() <= 1
    assert (planes.alpha is not None) == (mode == "RGBA")
    assert (planes.rgb is not None) == (mode in ("RGB", "RGBA"))


def test_exif_rotation_and_16_bit_are_honoured():
    rot = np.asarray(read_image(DATA / "exif_rot.jpg"))  # stored red|blue, orientation 6
    top, bottom = rot[:10].reshape(-1, 3).mean(0), rot[-10:].reshape(-1, 3).mean(0)
    assert top[0] > 150 > top[2] and bottom[2] > 150 > bottom[0], (top, bottom)
    luma = to_float(read_image(DATA / "gray16.tif")).luma
    levels = np.unique(np.round(luma * 65535))
    assert len(levels) > 256  # more than 8 bits of gray levels survive
    again = np.asarray(from_float(luma, "I;16"))
    assert np.array_equal(again, np.asarray(Image.open(DATA / "gray16.tif")))


@pytest.mark.parametrize(
    "name,fragment",
    [
        ("missing.png", "not found"),
        ("empty.png", "empty"),
        ("truncated.jpg", "truncated"),
        ("not_image.png", "not an image"),
        ("bomb.png", "decompression bomb"),
    ],
)
def test_read_image_refuses_bad_files_in_one_line(name, fragment):
    with pytest.raises(ImageError) as exc:
        read_image(DATA / name)
    assert fragment in str(exc.value) and "\n" not in str(exc.value)


def test_pixel_limit_comes_from_the_environment(monkeypatch):
    monkeypatch.setenv("OIPVIZ_MAX_PIXELS", "5000")
    with pytest.raises(ImageError, match="larger than the limit of 0.005 MP"):
        read_image(DATA / "photo.png")
    monkeypatch.setenv("OIPVIZ_MAX_PIXELS", "10000")
    assert read_image(DATA / "photo.png").size == (96, 96)


# ------------------------------------------------------------------ CLI: bad input
@pytest.mark.parametrize(
    "name,fragment",
    [
        ("missing.png", "not found"),
        ("empty.png", "empty (0 bytes)"),
        ("truncated.jpg", "truncated"),
        ("not_image.png", "not an image"),
        ("bomb.png", "decompression bomb"),
        ("tiny.png", "20×20 px; DeepDream needs at least 28×28"),
    ],
)
def test_cli_bad_image_is_one_line_error_and_writes_nothing(
    cli, user_error, tmp_path, name, fragment
):
    out = tmp_path / "out"
    user_error(cli("dream", DATA / name, "--out", out), fragment)
    assert list(tmp_path.iterdir()) == []


def test_cli_lowered_pixel_limit_refuses_and_existing_output_is_kept(
    cli, user_error, tmp_path, monkeypatch
):
    (tmp_path / "out").mkdir()
    (tmp_path / "out" / "mine.txt").write_text("keep")
    user_error(
        cli("dream", DATA / "photo.png", "--out", tmp_path / "out"), "already exists", "--force"
    )
    monkeypatch.setenv("OIPVIZ_MAX_PIXELS", "1000")
    user_error(cli("dream", DATA / "photo.png", "--out", tmp_path / "new"), "decompression bomb")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out"]
    assert (tmp_path / "out" / "mine.txt").read_text() == "keep"


# ------------------------------------------------------------------ CLI: outputs
@pytest.mark.parametrize(
    "name,mode",
    [("photo.png", "RGB"), ("gray.png", "L"), ("rgba.png", "RGBA"), ("gray16.tif", "I;16")],
)
def test_cli_dream_keeps_size_and_mode(cli, tmp_path, name, mode):
    out = tmp_path / "d"
    r = cli("dream", DATA / name, "--iters", "2", "--epochs", "10", "--out", out, "--quiet")
    assert r.exit_code == 0, (r.stdout, r.stderr)
    src = read_image(DATA / name)
    with Image.open(out / "dream.png") as im:
        assert im.mode == mode and im.size == src.size
        got = np.asarray(im)
    ref = np.asarray(src)
    scale = 65535.0 if mode == "I;16" else 255.0
    change = np.abs(got.astype(float) - ref.astype(float))[
        ..., : 3 if got.ndim == 3 else None
    ].mean()
    assert change / scale > 0.02  # the dream really changed the picture
    if mode == "RGBA":
        assert np.array_equal(got[..., 3], ref[..., 3])  # alpha kept exactly
    man = json.loads((out / "manifest.json").read_text())
    assert man["kind"] == "dream" and man["objective"] == "conv3:56"
    assert man["output"] == {"file": "dream.png", "mode": mode, "size": list(src.size)}
    assert [r["round"] for r in man["rounds"]] == [1, 2]
    assert man["rounds"][-1]["activation_end"] > man["rounds"][0]["activation_start"]
    for rd in man["rounds"]:
        with Image.open(out / rd["strip"]) as strip:
            assert strip.mode == "RGB" and strip.width > 4.5 * strip.height  # 5-6 panels in a row


@pytest.mark.parametrize("name", ["photo.png", "gray.png", "rgba.png"])
def test_iters_0_returns_the_input_pixels(cli, tmp_path, name):
    out = tmp_path / "d"
    r = cli("dream", DATA / name, "--iters", "0", "--out", out, "--quiet")
    assert r.exit_code == 0, r.stderr
    assert np.array_equal(_pixels(out / "dream.png"), _pixels(DATA / name))


def test_same_seed_same_bytes_other_seed_other_bytes(cli, tmp_path):
    args = ["dream", DATA / "photo.png", "--tile", "28", "--iters", "2", "--epochs", "4", "--quiet"]
    for tag, seed in (("a", 3), ("b", 3), ("c", 4)):
        r = cli(*args, "--seed", seed, "--out", tmp_path / tag)
        assert r.exit_code == 0, r.stderr
    a, b, c = ((tmp_path / t / "dream.png").read_bytes() for t in "abc")
    assert a == b
    assert (tmp_path / "a" / "round2.png").read_bytes() == (
        tmp_path / "b" / "round2.png"
    ).read_bytes()
    assert a != c  # the seed drives the tile rolls


def test_layer_mix_and_whole_layer(cli, tmp_path):
    r = cli(
        "dream",
        DATA / "photo.png",
        "--map",
        "3,56",
        "--weights",
        "1,3",
        "--iters",
        "1",
        "--epochs",
        "5",
        "--out",
        tmp_path / "mix",
        "--quiet",
    )
    assert r.exit_code == 0, r.stderr
    man = json.loads((tmp_path / "mix" / "manifest.json").read_text())
    assert man["objective"] == "0.25*conv3:3+0.75*conv3:56"
    assert man["parameters"]["maps"] == [3, 56] and man["parameters"]["weights"] == [1.0, 3.0]
    r = cli(
        "dream",
        DATA / "photo.png",
        "--map",
        "all",
        "--iters",
        "1",
        "--epochs",
        "5",
        "--out",
        tmp_path / "all",
        "--quiet",
    )
    assert r.exit_code == 0, r.stderr
    assert (
        json.loads((tmp_path / "all" / "manifest.json").read_text())["objective"] == "conv3:layer"
    )


# ------------------------------------------------------------------ what the dream looks like
def test_single_map_dream_keeps_details_and_colour(loaded, hopper):
    from oipviz.compute.dream import dream

    photo = np.asarray(read_image(hopper))
    res = dream(photo, map=56, iters=4, model=loaded)
    out = res.image
    assert out.shape == photo.shape and out.dtype == np.uint8
    g_in = cv2.cvtColor(photo, cv2.COLOR_RGB2GRAY).astype(np.float32)
    g_out = cv2.cvtColor(out, cv2.COLOR_RGB2GRAY).astype(np.float32)
    # the map's pattern changed the coarse picture ...
    assert np.abs(cv2.GaussianBlur(g_out - g_in, (0, 0), 8)).mean() > 8
    assert res.rounds[-1].activation_end > 10 * max(res.rounds[0].activation_start, 0.01)
    # ... while the photo's fine structure is re-added every round
    assert np.corrcoef(_highpass(g_in).ravel(), _highpass(g_out).ravel())[0, 1] > 0.8
    # colour stays colour: the chroma follows the photo's
    cr_in = cv2.cvtColor(photo, cv2.COLOR_RGB2YCrCb)[..., 1].astype(float)
    cr_out = cv2.cvtColor(out, cv2.COLOR_RGB2YCrCb)[..., 1].astype(float)
    assert np.corrcoef(cr_in.ravel(), cr_out.ravel())[0, 1] > 0.8
    assert out.std(axis=2).mean() > 0.5 * photo.std(axis=2).mean()
    # the article's panels: 28×28 OIP, blurry dream, + details, contrast adjusted in [0,1]
    rd = res.rounds[0]
    assert rd.small.shape == (28, 28) and rd.upscaled.shape == photo.shape[:2]
    assert rd.adjusted.min() >= 0 and rd.adjusted.max() <= 1


def test_tiled_dream_has_no_seams(loaded, hopper):
    from oipviz.compute.dream import make_objective
    from oipviz.compute.dreamer import dream_planes as dream_luma

    img = read_image(hopper).resize((170, 199), Image.BICUBIC)  # not multiples of 28
    luma = to_float(img).luma
    obj = make_objective(loaded, "conv3", 56)
    rolled, rounds, _ = dream_luma(luma, loaded, obj, iters=4, tile=28, seed=0)
    fixed, _, _ = dream_luma(luma, loaded, obj, iters=4, tile=28, seed=0, roll=False)
    assert rolled.shape == luma.shape and rounds[0].tiles == 7 * 8
    assert np.abs(rolled - luma).mean() > 0.02  # it dreamt
    # jumps across the tile grid are like jumps inside tiles, whatever the grid's phase
    ratios = [_jump_ratio(rolled, 28, p) for p in range(28)]
    assert min(ratios) > 1 / 1.5 and max(ratios) < 1.5, ratios
    assert 1 / 1.5 < _jump_ratio(rolled - luma, 28) < 1.5
    # without the roll the same measure sees the grid: the dream fades at tile borders
    assert _jump_ratio(fixed - luma, 28) < 1 / 1.5


def test_octaves_run_coarse_to_fine_and_api_keeps_dtype(loaded, hopper):
    from oipviz.compute.dream import dream

    photo = np.asarray(read_image(hopper).resize((150, 176), Image.BICUBIC))
    res = dream(photo, iters=2, steps=3, tile=28, octaves=3, octave_scale=1.4, model=loaded)
    widths = [r.adjusted.shape[1] for r in res.rounds]
    assert len(res.rounds) == 6 and widths == sorted(widths) and widths[-1] == 150
    assert res.image.shape == photo.shape and res.image.dtype == np.uint8
    import oipviz  # the package attribute stays callable after the submodule import

    gray = oipviz.dream(photo[..., 1].astype(np.float32) / 255, iters=1, steps=3, model=loaded)
    assert (
        gray.image.shape == photo.shape[:2] and gray.image.dtype == np.float32 and gray.mode == "L"
    )
    rgba = np.dstack([photo, np.full(photo.shape[:2], 77, np.uint8)])
    res = dream(rgba, iters=1, steps=3, gray=True, model=loaded)
    assert res.mode == "LA" and res.image.shape == photo.shape[:2] + (2,)
    assert (res.image[..., 1] == 77).all()


def test_subprocess_default_dream(tmp_path):
    script = Path(sys.executable).with_name("oipviz")
    cmd = (
        [str(script)]
        if script.exists()
        else [sys.executable, "-c", "from oipviz.cli import main; main()"]
    )
    p = subprocess.run(
        cmd + ["dream", str(DATA / "photo.png"), "--iters", "1", "--quiet"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert p.returncode == 0, p.stderr
    out = tmp_path / "dream_photo_56"
    assert sorted(f.name for f in out.iterdir()) == ["dream.png", "manifest.json", "round1.png"]
    assert "wrote dream_photo_56/" in p.stdout
