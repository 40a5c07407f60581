"""Figures a notebook's width can show: no image output of a solution notebook is wider than 4.5 times its height
(wider, and a figure's panels, titles and labels shrink below reading size in a notebook column)."""

from __future__ import annotations

import base64
import io
from pathlib import Path

import nbformat
import pytest
from PIL import Image

ROOT = Path(__file__).resolve().parent.parent
NOTEBOOKS = sorted((ROOT / "solutions").glob("[0-9][0-9]_*.ipynb"))
MAX_ASPECT = 4.5


def image_sizes(path: Path) -> list[tuple[str, int, int]]:
    """(cell id, width, height) of every PNG output of the notebook at ``path``."""
    found = []
    for cell in nbformat.read(path, as_version=4).cells:
        for out in cell.get("outputs", []):
            png = out.get("data", {}).get("image/png")
            if png:
                image = Image.open(io.BytesIO(base64.b64decode(png)))
                found.append((cell.get("id"), image.width, image.height))
    return found


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_no_image_is_wider_than_four_and_a_half_times_its_height(path):
    sizes = image_sizes(path)
    assert sizes, "a solution notebook holds its figures (executed)"
    wide = [(cid, w, h) for cid, w, h in sizes if w > MAX_ASPECT * h]
    assert not wide, f"redraw these figures (cell id, width, height in px): {wide}"
