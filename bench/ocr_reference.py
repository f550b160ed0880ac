"""The OCR benchmark's reference: the text a reader sees on a PDF page, from its text layer.

A text layer can hold text that is never drawn: a rendering mode that paints nothing
(invisible, clip only), white or fully transparent fill, text outside the page's crop box,
or text outside its clipping path (Dz.U. 2020 poz. 14 p.3 keeps the annex's original heading
clipped away under the gazette's own). A scan cannot show it, so the OCR of a scan must not be
charged for it. Each character of PDFium's text page is kept or dropped by the text object
that drew it (``FPDFText_GetTextObject``); characters PDFium generates (spaces, line breaks
between objects) belong to no object and are kept.

Text painted over by an opaque shape is not detected (that needs the z-order of every fill);
none of the bench's acts has any.
"""

from __future__ import annotations

import ctypes
from typing import Any

# FPDF_TEXTRENDERMODE values that paint nothing: invisible (3) and clip only (7).
NOT_PAINTED = {3, 7}
# Modes that paint by fill (0 fill, 2 fill+stroke, 4 fill+clip, 6 fill+stroke+clip); the others stroke.
FILLED = {0, 2, 4, 6}
WHITE = 250  # every channel at least this: white on white paper


def visible_text(page: Any) -> tuple[str, int]:
    """The page's text as ``get_text_range`` gives it, less what is not drawn; and the count dropped."""
    import pypdfium2.raw as pdfium_c

    textpage = page.get_textpage()
    try:
        text = textpage.get_text_range()
        count = pdfium_c.FPDFText_CountChars(textpage.raw)
        if len(text) != count:  # characters outside the BMP: no one-to-one map, keep the layer
            return text, 0
        crop = page.get_cropbox()
        verdicts: dict[int, bool] = {}
        kept = []
        for index, char in enumerate(text):
            obj = pdfium_c.FPDFText_GetTextObject(textpage.raw, index)
            if obj:
                key = ctypes.addressof(obj.contents)
                if key not in verdicts:
                    verdicts[key] = _drawn(obj, crop)
                if not verdicts[key]:
                    continue
            kept.append(char)
        return "".join(kept), count - len(kept)
    finally:
        textpage.close()


def _drawn(obj: Any, crop: tuple[float, float, float, float]) -> bool:
    import pypdfium2.raw as pdfium_c

    mode = pdfium_c.FPDFTextObj_GetTextRenderMode(obj)
    if mode in NOT_PAINTED:
        return False
    colour = [ctypes.c_uint() for _ in range(4)]
    getter = pdfium_c.FPDFPageObj_GetFillColor if mode in FILLED else pdfium_c.FPDFPageObj_GetStrokeColor
    if getter(obj, *(ctypes.byref(c) for c in colour)):
        red, green, blue, alpha = (c.value for c in colour)
        if alpha == 0 or min(red, green, blue) >= WHITE:
            return False
    bounds = [ctypes.c_float() for _ in range(4)]
    if not pdfium_c.FPDFPageObj_GetBounds(obj, *(ctypes.byref(b) for b in bounds)):
        return True
    left, bottom, right, top = (b.value for b in bounds)
    if not _overlaps((left, bottom, right, top), crop):
        return False
    clip = pdfium_c.FPDFPageObj_GetClipPath(obj)
    if clip:
        for path in range(pdfium_c.FPDFClipPath_CountPaths(clip)):
            box = _path_box(clip, path)
            # Every path of a clip is intersected with the others: outside any one, nothing shows.
            if box is not None and not _overlaps((left, bottom, right, top), box):
                return False
    return True


def _path_box(clip: Any, path: int) -> tuple[float, float, float, float] | None:
    import pypdfium2.raw as pdfium_c

    xs: list[float] = []
    ys: list[float] = []
    for index in range(pdfium_c.FPDFClipPath_CountPathSegments(clip, path)):
        segment = pdfium_c.FPDFClipPath_GetPathSegment(clip, path, index)
        x, y = ctypes.c_float(), ctypes.c_float()
        if segment and pdfium_c.FPDFPathSegment_GetPoint(segment, ctypes.byref(x), ctypes.byref(y)):
            xs.append(x.value)
            ys.append(y.value)
    return (min(xs), min(ys), max(xs), max(ys)) if xs else None


def _overlaps(a: tuple[float, float, float, float], b: tuple[float, float, float, float]) -> bool:
    """Boxes (left, bottom, right, top) share area; a zero-width box (a space) on an edge counts."""
    return a[0] <= b[2] and b[0] <= a[2] and a[1] <= b[3] and b[1] <= a[3]
