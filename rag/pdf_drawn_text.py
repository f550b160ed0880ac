"""The text of a PDF page that is drawn where a reader can see it, from PDFium's text page.

A text layer can hold text no one sees: text outside the page's crop box, or outside the
clipping path it is drawn under (Dz.U. 2020 poz. 14 p.3 keeps the annex's original heading
clipped away beneath the gazette's own, so the layer says it twice). Indexing it would give
passages, and citations, that no one can find on the page, and it is a place to hide words
for the model. Each character of the text page is kept or dropped with the text object that
drew it (``FPDFText_GetTextObject``); characters PDFium makes up (spaces, line breaks between
objects) belong to no object and are kept.

Two policies:
- ``"geometry"`` (ingest and page highlights) drops only what lies outside the crop box or its
  clip. Invisible text (render mode 3) stays: it is how a searchable scan carries its OCR, over
  the page image. Clip-only text (mode 7) stays: the image it masks shows through its letters.
  White text stays: on a dark band it is what the reader sees.
- ``"painted"`` (the OCR benchmark's reference: what a scan of the page can show) also drops
  invisible and clip-only text and white or fully transparent text.

Text painted over by an opaque shape is not detected (that needs the z-order of every fill).
"""

from __future__ import annotations

import ctypes
from typing import TYPE_CHECKING, Any, Literal

if TYPE_CHECKING:
    import pypdfium2 as pdfium

Policy = Literal["geometry", "painted"]
Rect = tuple[float, float, float, float]  # left, bottom, right, top in PDF points

# FPDF_TEXTRENDERMODE values that paint nothing: invisible (3) and clip only (7).
NOT_PAINTED = frozenset({3, 7})
# Modes that paint by fill (0 fill, 2 fill+stroke, 4 fill+clip, 6 fill+stroke+clip); the others stroke.
FILLED = frozenset({0, 2, 4, 6})
WHITE = 250  # every channel at least this: white on white paper


def drawn_text(
    textpage: pdfium.PdfTextPage, crop: Rect, policy: Policy = "geometry"
) -> tuple[str, list[int]]:
    """The page's text as ``get_text_range`` gives it, less what ``policy`` says is not seen;
    and, for each character kept, its index in the text page (for its box)."""
    import pypdfium2.raw as pdfium_c

    text = textpage.get_text_range()
    count = pdfium_c.FPDFText_CountChars(textpage.raw)
    if len(text) != count:  # characters outside the BMP: no one-to-one map, keep the layer
        return text, list(range(len(text)))
    if _every_text_object_drawn(textpage.page.raw, crop, policy):
        return text, list(range(count))  # most pages: a walk over objects, not over characters
    verdicts: dict[int, bool] = {}
    kept: list[int] = []
    for index in range(count):
        obj = pdfium_c.FPDFText_GetTextObject(textpage.raw, index)
        if obj:
            key = ctypes.addressof(obj.contents)
            seen = verdicts.get(key)
            if seen is None:
                seen = verdicts[key] = _drawn(obj, crop, policy)
            if not seen:
                continue
        kept.append(index)
    if len(kept) == count:
        return text, kept
    return "".join(text[index] for index in kept), kept


def crop_box(page: pdfium.PdfPage) -> Rect:
    """The page's crop box (what viewers show), as :func:`drawn_text` takes it."""
    left, bottom, right, top = page.get_cropbox()
    return float(left), float(bottom), float(right), float(top)


def _every_text_object_drawn(page: Any, crop: Rect, policy: Policy) -> bool:
    import pypdfium2.raw as pdfium_c

    def walk(count: int, child: Any) -> bool:
        for index in range(count):
            obj = child(index)
            kind = pdfium_c.FPDFPageObj_GetType(obj)
            if kind == pdfium_c.FPDF_PAGEOBJ_TEXT and not _drawn(obj, crop, policy):
                return False
            if kind == pdfium_c.FPDF_PAGEOBJ_FORM and not walk(
                pdfium_c.FPDFFormObj_CountObjects(obj),
                lambda i, form=obj: pdfium_c.FPDFFormObj_GetObject(form, i),
            ):
                return False
        return True

    return walk(pdfium_c.FPDFPage_CountObjects(page), lambda i: pdfium_c.FPDFPage_GetObject(page, i))


def _drawn(obj: Any, crop: Rect, policy: Policy) -> bool:
    import pypdfium2.raw as pdfium_c

    if policy == "painted" and not _painted(obj):
        return False
    bounds = [ctypes.c_float() for _ in range(4)]
    if not pdfium_c.FPDFPageObj_GetBounds(obj, *(ctypes.byref(b) for b in bounds)):
        return True
    box = (bounds[0].value, bounds[1].value, bounds[2].value, bounds[3].value)
    if not _overlaps(box, crop):
        return False
    clip = pdfium_c.FPDFPageObj_GetClipPath(obj)
    if clip:
        for path in range(pdfium_c.FPDFClipPath_CountPaths(clip)):
            area = _path_box(clip, path)
            # Every path of a clip is intersected with the others: outside any one, nothing shows.
            if area is not None and not _overlaps(box, area):
                return False
    return True


def _painted(obj: Any) -> bool:
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
    return True


def _path_box(clip: Any, path: int) -> Rect | None:
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


def _overlaps(a: Rect, b: Rect) -> bool:
    """Boxes (left, bottom, right, top) share area; a zero-width box (a space) on an edge counts."""
    return a[0] <= b[2] and b[0] <= a[2] and a[1] <= b[3] and b[1] <= a[3]
