"""OCR of page images with Tesseract 5 (tesserocr binding) and its Polish model.

tesserocr rather than pytesseract: it calls libtesseract in-process (its wheel bundles
Tesseract 5.5), loads the models once per process instead of once per page, releases the
GIL, and gives text, word confidences and word boxes from one recognition. Measured on a
300-dpi page of Dz.U. 2020 poz. 3: 5.0 s/page against 7.3 s/page for pytesseract's
subprocess (text only; its word data costs a second run). The models come from the
distribution's packages (tesseract-ocr-pol, tesseract-ocr-osd).
"""

from __future__ import annotations

import glob
import logging
import os
import threading
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any, Literal

from ingest.ocr_image import remove_dot_leaders
from ingest.ocr_text import fix_misreads
from rag.errors import BadDocumentError
from rag.passage_boxes import rotate
from rag.types import OcrWord, Page

if TYPE_CHECKING:
    from PIL.Image import Image

    from rag.settings import Settings

log = logging.getLogger(__name__)

# OMP_THREAD_LIMIT=1 (one Tesseract thread) is set in the parser processes only (ingest.prepare):
# set here on import it also held torch to one thread wherever torch loaded after this module
# (polrag ingest imports the pipeline before it loads the embedder).

PACKAGES = "tesseract-ocr tesseract-ocr-pol tesseract-ocr-osd"
# Tesseract's own default margin for trusting orientation detection (min_orientation_margin).
MIN_ORIENTATION_CONFIDENCE = 7.0
# Orientation is detected on a copy this many pixels on its longer side: enough text for OSD,
# a fraction of its time on a full 300-dpi page.
OSD_MAX_SIDE = 1600
TESSDATA_GLOBS = (
    "/usr/share/tesseract-ocr/*/tessdata",
    "/usr/share/tessdata",
    "/usr/local/share/tessdata",
    "/opt/homebrew/share/tessdata",
)

OcrMode = Literal["auto", "off", "force"]


@dataclass(frozen=True, slots=True)
class OcrOptions:
    """How scanned pages are read; built from the settings and handed to the parser processes."""

    mode: OcrMode = "auto"
    languages: str = "pol+eng"
    dpi: int = 300
    tessdata: str = ""  # empty: TESSDATA_PREFIX, then the usual system folders
    # Pages of one document OCR'd at once, one Tesseract (one thread) each: the cores when a
    # document is parsed alone, 1 in the ingest's parser processes (one per core already).
    threads: int = 1

    @classmethod
    def from_settings(cls, settings: Settings) -> OcrOptions:
        return cls(
            mode=settings.ocr,
            languages=settings.ocr_languages,
            dpi=settings.ocr_dpi,
            tessdata=str(settings.ocr_tessdata or ""),
            threads=settings.worker_count,
        )

    @classmethod
    def configured(cls) -> OcrOptions:
        """The options POLRAG_OCR* give, for a loader called without any."""
        from rag.settings import get_settings

        return cls.from_settings(get_settings())


class OcrUnavailable(BadDocumentError):
    """A page needs OCR but Tesseract or one of its models is missing here."""


def read_image(image: Image, options: OcrOptions, number: int | None, dpi: float | None = None) -> Page:
    """OCR one page image: turned upright by orientation detection, read, mean word confidence.

    ``dpi`` is the image's resolution (``options.dpi`` when not given: a PDF page rendered at it).
    A page OCR cannot read (blank, noise) comes back empty with confidence 0, not as an error.
    """
    engine = _take(options.languages, options.tessdata)
    try:
        return engine.read(image, number, dpi or options.dpi)
    finally:
        _give_back(options.languages, options.tessdata, engine)


def check_available(options: OcrOptions) -> None:
    """Raise :class:`OcrUnavailable`, whose message says what to install, when OCR cannot run here."""
    _give_back(options.languages, options.tessdata, _take(options.languages, options.tessdata))


def available(options: OcrOptions) -> bool:
    """True when OCR can run here (tesserocr imports and the models are found)."""
    try:
        check_available(options)
    except OcrUnavailable:
        return False
    return True


def forget_engines() -> None:
    """Drop the idle engines (their models are loaded again when next needed)."""
    with _idle_lock:
        _idle.clear()


# Idle engines by configuration: a page takes one (made when none is idle; loading the models
# takes a while, so they are kept) and gives it back. Pages read on several threads each have
# their own engine, and no more are made than pages were read at once.
_idle: dict[tuple[str, str], list[TesseractEngine]] = {}
_idle_lock = threading.Lock()


def _take(languages: str, tessdata: str) -> TesseractEngine:
    with _idle_lock:
        idle = _idle.get((languages, tessdata))
        if idle:
            return idle.pop()
    return TesseractEngine(languages, find_tessdata(languages, tessdata))


def _give_back(languages: str, tessdata: str, engine: TesseractEngine) -> None:
    with _idle_lock:
        _idle.setdefault((languages, tessdata), []).append(engine)


def find_tessdata(languages: str, tessdata: str = "") -> str:
    """The folder holding every model ``languages`` names, plus ``osd``; or :class:`OcrUnavailable`."""
    needed = [*languages.split("+"), "osd"]
    candidates = [tessdata] if tessdata else [os.environ.get("TESSDATA_PREFIX", "")]
    if not tessdata:
        candidates += sorted((p for g in TESSDATA_GLOBS for p in glob.glob(g)), reverse=True)
    for folder in filter(None, candidates):
        if all(os.path.isfile(os.path.join(folder, f"{lang}.traineddata")) for lang in needed):
            return folder
    where = tessdata or "the system folders"
    raise OcrUnavailable(
        f"scanned page needs OCR, but Tesseract's models ({', '.join(needed)}) are not in {where}: "
        f"install {PACKAGES} (apt-get install {PACKAGES})"
    )


class TesseractEngine:
    """libtesseract for one process: a recogniser and an orientation detector, used in turn."""

    def __init__(self, languages: str, tessdata: str) -> None:
        try:
            from tesserocr import PSM, PyTessBaseAPI
        except ImportError as exc:
            raise OcrUnavailable(
                f"scanned page needs OCR, but the tesserocr module is missing ({exc}): "
                f"pip install tesserocr, and install {PACKAGES}"
            ) from None
        try:
            self._api: Any = PyTessBaseAPI(path=tessdata + os.sep, lang=languages, psm=PSM.AUTO)
            self._osd: Any = PyTessBaseAPI(path=tessdata + os.sep, lang="osd", psm=PSM.OSD_ONLY)
        except RuntimeError as exc:
            raise OcrUnavailable(
                f"Tesseract cannot load {languages} from {tessdata} ({exc}): install {PACKAGES}"
            ) from None

    def read(self, image: Image, number: int | None, dpi: float) -> Page:
        """One page at ``dpi``; an engine reads one page at a time (its API is stateful)."""
        image = _grey(image)
        turn = self._orientation(image)
        if turn:
            image = image.rotate(turn, expand=True, fillcolor=255)
        # Upright first: dotted lines are found along the rows.
        page = self._recognise(remove_dot_leaders(image, dpi), number)
        if not turn:
            return page
        # The words' boxes are of the page as it is (what a page view draws), not as it was read.
        return replace(page, words=tuple(_turned_back(word, turn) for word in page.words))

    def _orientation(self, image: Image) -> int:
        """Degrees (counter-clockwise) that turn the page upright; 0 when unsure."""
        scale = OSD_MAX_SIDE / max(image.size)
        if scale < 1:
            image = image.resize((round(image.width * scale), round(image.height * scale)))
        small = image
        self._osd.SetImage(small)
        found = self._osd.DetectOrientationScript()  # None on a page without text
        if not found or found["orient_conf"] < MIN_ORIENTATION_CONFIDENCE:
            return 0
        return int(found["orient_deg"]) % 360

    def _recognise(self, image: Image, number: int | None) -> Page:
        from tesserocr import RIL, iterate_level

        api = self._api
        api.SetImage(image)
        api.Recognize()
        width, height = image.size
        words: list[OcrWord] = []
        for item in iterate_level(api.GetIterator(), RIL.WORD):
            try:
                text = (item.GetUTF8Text(RIL.WORD) or "").strip()
            except RuntimeError:  # "No text returned": a page with nothing on it
                break
            box = item.BoundingBox(RIL.WORD)
            if not text or box is None:
                continue
            x0, y0, x1, y1 = box
            words.append(
                OcrWord(
                    text,
                    round(float(item.Confidence(RIL.WORD)), 1),
                    round(x0 / width, 4),
                    round(y0 / height, 4),
                    round(x1 / width, 4),
                    round(y1 / height, 4),
                )
            )
        text = fix_misreads(api.GetUTF8Text()) if words else ""
        api.Clear()
        confidence = round(sum(w.confidence for w in words) / len(words), 1) if words else 0.0
        return Page(number, text, method="ocr", confidence=confidence, words=tuple(words))


def _turned_back(word: OcrWord, turn: int) -> OcrWord:
    """``word`` read on the page turned ``turn`` degrees counter-clockwise, boxed on the page as it is."""
    left, top, right, bottom = rotate((word.left, word.top, word.right, word.bottom), turn)
    return replace(
        word, left=round(left, 4), top=round(top, 4), right=round(right, 4), bottom=round(bottom, 4)
    )


def _grey(image: Image) -> Image:
    if image.mode in ("RGBA", "LA", "P"):
        # A transparent background reads as black once the alpha is dropped: paste on white.
        from PIL import Image as PILImage

        rgba = image.convert("RGBA")
        white = PILImage.new("RGBA", rgba.size, (255, 255, 255, 255))
        image = PILImage.alpha_composite(white, rgba)
    return image if image.mode == "L" else image.convert("L")
