"""Page images made ready for Tesseract: dotted fill-in lines taken out before recognition.

Forms mark their blanks with dotted lines ("(data) ........"). Tesseract's page layout
analysis takes such a row of dots for part of the text beside it and then loses the text: on
the forms of Dz.U. 2020 poz. 2 it dropped whole lines ("2. Pełniona przez uprawnionego
funkcja ...") next to a dotted line, or read a dotted line as "eeccesesse...". The dots carry
no words (the text layer's runs of dots become one "…" in cleaning), so they are painted
over with the paper's colour before recognition; the page's geometry, and so the word
boxes, stay as they were.

A dot is a small ink blob; a dotted line is a chain of at least ``MIN_DOTS`` of them, each a
short step from the last along a row. Dots over letters (i, j, ż) and the three of an
ellipsis never chain that far.
"""

from __future__ import annotations

from bisect import bisect_right
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from PIL.Image import Image

# Sizes in inches, turned into pixels by the page's resolution. A typeset leader's dot is
# about 1/100 inch (3 x 4 px at 300 dpi) spaced 1/30 inch apart; letters of body text are
# 1/15 inch and more.
DOT_MAX = 1 / 40  # a blob this wide and high at most is a dot
STEP_MAX = 1 / 16  # from one dot to the next along the line
DRIFT_MAX = 1 / 150  # a dot's centre this far above or below the last one's (a scan is turned a little)
MIN_DOTS = 8


def remove_dot_leaders(image: Image, dpi: float) -> Image:
    """``image`` (mode L) with its dotted lines painted in the paper's colour; the same image if none."""
    import numpy as np
    from scipy import ndimage

    pixels = np.asarray(image)
    if pixels.ndim != 2 or pixels.size == 0:
        return image
    levels = _levels(pixels)
    if levels is None:
        return image
    paper, threshold = levels
    labels, _count = ndimage.label(pixels < threshold, structure=np.ones((3, 3), dtype=bool))
    dot_max = max(2, round(DOT_MAX * dpi))
    dots: list[tuple[float, float, int]] = []  # (x centre, y centre, index into boxes)
    boxes: list[tuple[slice, slice]] = []
    for found in ndimage.find_objects(labels):
        if found is None:
            continue
        rows, cols = found
        if rows.stop - rows.start <= dot_max and cols.stop - cols.start <= dot_max:
            dots.append(((cols.start + cols.stop) / 2, (rows.start + rows.stop) / 2, len(boxes)))
            boxes.append(found)
    leaders = _chained(dots, STEP_MAX * dpi, max(1.5, DRIFT_MAX * dpi))
    if not leaders:
        return image
    from PIL import Image as PILImage

    cleaned = pixels.copy()
    height, width = pixels.shape
    for index in leaders:
        rows, cols = boxes[index]
        # A pixel more on each side: the grey fringe of a dot's edge would stay as a faint dot.
        cleaned[
            max(rows.start - 1, 0) : min(rows.stop + 1, height),
            max(cols.start - 1, 0) : min(cols.stop + 1, width),
        ] = paper
    return PILImage.fromarray(cleaned, mode="L")


def _chained(dots: list[tuple[float, float, int]], step: float, drift: float) -> set[int]:
    """Indexes (third member) of the dots in a chain of at least ``MIN_DOTS``, each near the last."""
    dots.sort()
    # Rows of the page in bands of ``drift``: a dot's next neighbour is looked for in its own
    # band and the two beside it, among the dots to its right within ``step`` (each band's
    # dots are in x order, so that is a bisection and a short walk).
    bands: dict[int, list[int]] = {}
    for index, (_x, y, _label) in enumerate(dots):
        bands.setdefault(int(y // drift), []).append(index)
    band_xs = {band: [dots[i][0] for i in members] for band, members in bands.items()}
    following: dict[int, int] = {}
    taken: set[int] = set()
    for index, (x, y, _label) in enumerate(dots):
        best: tuple[float, int] | None = None
        band = int(y // drift)
        for near in (band - 1, band, band + 1):
            members = bands.get(near)
            if not members:
                continue
            xs = band_xs[near]
            for position in range(bisect_right(xs, x), len(members)):
                ox, oy, _ = dots[members[position]]
                if ox > x + step:
                    break
                if members[position] in taken or abs(oy - y) > drift:
                    continue
                if best is None or ox - x < best[0]:
                    best = (ox - x, members[position])
                break
        if best is not None:
            following[index] = best[1]
            taken.add(best[1])
    out: set[int] = set()
    for start in range(len(dots)):
        if start in taken:  # not the head of a chain
            continue
        chain = [start]
        while chain[-1] in following:
            chain.append(following[chain[-1]])
        if len(chain) >= MIN_DOTS:
            out.update(dots[i][2] for i in chain)
    return out


def _levels(pixels: Any) -> tuple[int, int] | None:
    """(paper, ink threshold) of a grey page from its histogram; None without the contrast of print.

    Paper is the 90th percentile (most of a page is paper), ink the 0.5th; the threshold halfway.
    """
    import numpy as np

    cumulative = np.cumsum(np.bincount(pixels.ravel(), minlength=256))
    paper = int(np.searchsorted(cumulative, 0.9 * pixels.size))
    ink = int(np.searchsorted(cumulative, 0.005 * pixels.size))
    return None if paper - ink < 64 else (paper, (paper + ink) // 2)
