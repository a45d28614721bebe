"""What results show in Jupyter: a picture (contact sheet) and the key numbers."""

from __future__ import annotations

import base64
import html
import io


def png_bytes(image) -> bytes:
    """A PIL image as PNG bytes."""
    buf = io.BytesIO()
    image.save(buf, format="PNG")
    return buf.getvalue()


def card(title: str, facts: dict, image=None) -> str:
    """HTML: a title, a small table of facts and an inline PNG (no network)."""
    rows = "".join(
        f"<tr><th style='text-align:left'>{html.escape(str(k))}</th>"
        f"<td>{html.escape(str(v))}</td></tr>"
        for k, v in facts.items()
    )
    img = ""
    if image is not None:
        data = base64.b64encode(png_bytes(image)).decode("ascii")
        img = f"<img src='data:image/png;base64,{data}' style='max-width:100%'>"
    return f"<div><b>{html.escape(title)}</b><table>{rows}</table>{img}</div>"
