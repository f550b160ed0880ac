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
Matrix = tuple[float, float, float, float, float, float]  # PDF's (a b c d e f)
IDENTITY: Matrix = (1.0, 0.0, 0.0, 1.0, 0.0, 0.0)

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
    verdicts = _text_object_verdicts(textpage.page.raw, crop, policy)
    if all(verdicts.values()):
        return text, list(range(count))  # most pages: a walk over objects, not over characters
    kept: list[int] = []
    for index in range(count):
        obj = pdfium_c.FPDFText_GetTextObject(textpage.raw, index)
        # An object the walk did not meet (none should be) keeps its text: never lose text.
        if obj and not verdicts.get(ctypes.addressof(obj.contents), True):
            continue
        kept.append(index)
    if len(kept) == count:
        return text, kept
    return "".join(text[index] for index in kept), kept


def crop_box(page: pdfium.PdfPage) -> Rect:
    """The page's crop box (what viewers show), as :func:`drawn_text` takes it."""
    left, bottom, right, top = page.get_cropbox()
    return float(left), float(bottom), float(right), float(top)


def _text_object_verdicts(page: Any, crop: Rect, policy: Policy) -> dict[int, bool]:
    """Whether each text object of the page is drawn, by its address; those inside form XObjects
    too. Their bounds and clips are in the form's space: mapped to the page's through the forms'
    matrices (a form placed with a shift showed text that its own coordinates put off the page)."""
    import pypdfium2.raw as pdfium_c

    verdicts: dict[int, bool] = {}

    def walk(count: int, child: Any, matrix: Matrix, clips: tuple[Rect, ...]) -> None:
        for index in range(count):
            obj = child(index)
            kind = pdfium_c.FPDFPageObj_GetType(obj)
            if kind == pdfium_c.FPDF_PAGEOBJ_TEXT:
                seen = _drawn(obj, crop, policy, matrix, clips)
                verdicts[ctypes.addressof(obj.contents)] = seen
            elif kind == pdfium_c.FPDF_PAGEOBJ_FORM:
                # The form's own clip is in its parent's space; what it holds is in its own.
                inner_clips = clips + tuple(_transformed(box, matrix) for box in _clip_boxes(obj))
                walk(
                    pdfium_c.FPDFFormObj_CountObjects(obj),
                    lambda i, form=obj: pdfium_c.FPDFFormObj_GetObject(form, i),
                    _compose(matrix, _form_matrix(obj)),
                    inner_clips,
                )

    walk(pdfium_c.FPDFPage_CountObjects(page), lambda i: pdfium_c.FPDFPage_GetObject(page, i), IDENTITY, ())
    return verdicts


def _drawn(obj: Any, crop: Rect, policy: Policy, matrix: Matrix, clips: tuple[Rect, ...]) -> bool:
    import pypdfium2.raw as pdfium_c

    if policy == "painted" and not _painted(obj):
        return False
    bounds = [ctypes.c_float() for _ in range(4)]
    if not pdfium_c.FPDFPageObj_GetBounds(obj, *(ctypes.byref(b) for b in bounds)):
        return True
    box = _transformed((bounds[0].value, bounds[1].value, bounds[2].value, bounds[3].value), matrix)
    if not _overlaps(box, crop):
        return False
    # Every path of a clip (and every enclosing form's clip) is intersected with the others:
    # outside any one, nothing shows.
    areas = (*clips, *(_transformed(area, matrix) for area in _clip_boxes(obj)))
    return all(_overlaps(box, area) for area in areas)


def _clip_boxes(obj: Any) -> list[Rect]:
    import pypdfium2.raw as pdfium_c

    clip = pdfium_c.FPDFPageObj_GetClipPath(obj)
    if not clip:
        return []
    boxes = (_path_box(clip, path) for path in range(pdfium_c.FPDFClipPath_CountPaths(clip)))
    return [box for box in boxes if box is not None]


def _form_matrix(obj: Any) -> Matrix:
    import pypdfium2.raw as pdfium_c

    m = pdfium_c.FS_MATRIX()
    if not pdfium_c.FPDFPageObj_GetMatrix(obj, ctypes.byref(m)):
        return IDENTITY
    return (m.a, m.b, m.c, m.d, m.e, m.f)


def _compose(outer: Matrix, inner: Matrix) -> Matrix:
    """The matrix that applies ``inner``, then ``outer``."""
    a, b, c, d, e, f = outer
    ia, ib, ic, id_, ie, if_ = inner
    return (
        a * ia + c * ib,
        b * ia + d * ib,
        a * ic + c * id_,
        b * ic + d * id_,
        a * ie + c * if_ + e,
        b * ie + d * if_ + f,
    )


def _transformed(box: Rect, m: Matrix) -> Rect:
    if m == IDENTITY:
        return box
    a, b, c, d, e, f = m
    xs, ys = [], []
    for x in (box[0], box[2]):
        for y in (box[1], box[3]):
            xs.append(a * x + c * y + e)
            ys.append(b * x + d * y + f)
    return min(xs), min(ys), max(xs), max(ys)


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
