"""Regenerate the small test images in this folder: ``python tests/data/make_data.py``.

Everything is synthetic (Pillow, OpenCV, numpy with a fixed seed), a few KB each:
photo.png       96×96 RGB "photo": sky gradient, soft blossom, 1/f clouds, strokes, grain
gray.png        its green channel, mode L
gray16.tif      a 16-bit gray TIFF (mode I;16)
rgba.png        photo.png with a horizontal alpha ramp
palette.png     photo.png quantized to 32 colours (mode P)
exif_rot.jpg    stored 80×48 (red left, blue right) with EXIF orientation 6: shows as 48×80
tiny.png        20×20, smaller than the 28×28 a dream needs
truncated.jpg   the first half of a JPEG
not_image.png   a text file with an image's name
empty.png       0 bytes
bomb.png        a valid PNG header claiming 20000×20000 px (400 MP) with almost no data
"""

import struct
import zlib
from pathlib import Path

import cv2
import numpy as np
from PIL import Image

OUT = Path(__file__).resolve().parent


def _chunk(kind: bytes, data: bytes) -> bytes:
    crc = struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)
    return struct.pack(">I", len(data)) + kind + data + crc


def main() -> None:
    rng = np.random.default_rng(7)
    H = W = 96
    yy, xx = np.mgrid[0:H, 0:W].astype(np.float32)
    base = 0.2 + 0.45 * yy / H
    disc = np.exp(-(((xx - 58) / 18) ** 2 + ((yy - 40) / 16) ** 2))
    spec = np.fft.fft2(rng.normal(size=(H, W)))
    f = np.hypot(*np.meshgrid(np.fft.fftfreq(W), np.fft.fftfreq(H)))
    clouds = np.real(np.fft.ifft2(spec / np.maximum(f, 1.0 / W)))
    clouds = (clouds - clouds.mean()) / clouds.std()
    strokes = np.zeros((H, W), np.float32)
    for _ in range(9):
        p = rng.integers(8, 88, size=4)
        cv2.line(strokes, (int(p[0]), int(p[1])), (int(p[2]), int(p[3])), 1.0, 2, cv2.LINE_AA)
    strokes = cv2.GaussianBlur(strokes, (0, 0), 0.7)
    grain = rng.normal(0, 0.01, (H, W))
    lum = np.clip(base + 0.35 * disc + 0.07 * clouds + 0.3 * strokes + grain, 0, 1).astype(
        np.float32
    )
    smooth = np.clip(base + 0.35 * disc + 0.07 * clouds + 0.3 * strokes, 0, 1)
    r = np.clip(lum + 0.25 * disc - 0.05, 0, 1)
    g = np.clip(lum - 0.1 * disc, 0, 1)
    b = np.clip(lum - 0.2 * disc + 0.12 * (1 - yy / H), 0, 1)
    rgb = (np.stack([r, g, b], -1) * 255).round().astype(np.uint8)
    Image.fromarray(rgb).save(OUT / "photo.png", optimize=True)
    Image.fromarray(rgb[..., 1]).save(OUT / "gray.png", optimize=True)
    alpha = (np.clip(1.1 - xx / W, 0, 1) * 255).round().astype(np.uint8)
    Image.fromarray(np.concatenate([rgb, alpha[..., None]], -1)).save(
        OUT / "rgba.png", optimize=True
    )
    Image.fromarray(rgb).quantize(32, dither=Image.Dither.NONE).save(
        OUT / "palette.png", optimize=True
    )
    g16 = (smooth[:64, :64] * 65535).round().astype(np.uint16)
    Image.fromarray(g16).save(OUT / "gray16.tif", compression="tiff_adobe_deflate")
    stored = np.zeros((48, 80, 3), np.uint8)
    stored[:, :40] = (200, 40, 40)
    stored[:, 40:] = (40, 40, 200)
    exif = Image.Exif()
    exif[0x0112] = 6  # orientation: rotate 90° clockwise to display
    Image.fromarray(stored).save(OUT / "exif_rot.jpg", exif=exif.tobytes(), quality=90)
    Image.fromarray(rgb[:20, :20]).save(OUT / "tiny.png")
    tmp = OUT / ".full.jpg"
    Image.fromarray(rgb).save(tmp, quality=90)
    data = tmp.read_bytes()
    tmp.unlink()
    (OUT / "truncated.jpg").write_bytes(data[: len(data) // 2])
    (OUT / "not_image.png").write_text("this is plain text, not a PNG\n")
    (OUT / "empty.png").write_bytes(b"")
    ihdr = struct.pack(">IIBBBBB", 20000, 20000, 8, 0, 0, 0, 0)
    (OUT / "bomb.png").write_bytes(
        b"\x89PNG\r\n\x1a\n"
        + _chunk(b"IHDR", ihdr)
        + _chunk(b"IDAT", zlib.compress(b"\0" * 64))
        + _chunk(b"IEND", b"")
    )


if __name__ == "__main__":
    main()
    for p in sorted(OUT.iterdir()):
        print(f"{p.name:16s} {p.stat().st_size:7d} bytes")
