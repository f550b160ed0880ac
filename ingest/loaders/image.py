"""Images as documents: PNG, JPEG and TIFF (each frame of a multi-page TIFF is a page), read by OCR."""

from __future__ import annotations

import warnings
from io import BytesIO
from typing import Any

from ingest.limits import DEFAULT_LIMITS, DocumentLimits, TextBudget
from ingest.ocr import OcrOptions, read_image
from rag.errors import BadDocumentError, DocumentTooLarge
from rag.progress import ocr_page
from rag.types import Page

MAGIC = {
    b"\x89PNG\r\n\x1a\n": "png",
    b"\xff\xd8\xff": "jpeg",
    b"II*\x00": "tiff",
    b"MM\x00*": "tiff",
}


def image_kind(head: bytes) -> str | None:
    """``png``, ``jpeg`` or ``tiff`` when ``head`` starts like one, else None."""
    return next((kind for magic, kind in MAGIC.items() if head.startswith(magic)), None)


def load_image(
    data: bytes, limits: DocumentLimits = DEFAULT_LIMITS, ocr: OcrOptions | None = None
) -> list[Page]:
    """One OCR'd :class:`Page` per frame, numbered from 1; the frame count is checked first."""
    from PIL import Image, ImageOps, UnidentifiedImageError

    options = ocr or OcrOptions.configured()
    pages = []
    # Pillow's decompression-bomb guard stays on: its warning (past MAX_IMAGE_PIXELS) is an
    # error here too, so a small file cannot unpack into gigabytes of pixels. Not when
    # POLRAG_MAX_IMAGE_PIXELS was raised above Pillow's limit (the setting would then raise
    # nothing): check_pixels holds each frame to it, and Pillow's error at twice its limit stays.
    with warnings.catch_warnings():
        pillow_limit = Image.MAX_IMAGE_PIXELS
        if pillow_limit is not None and limits.image_pixels <= pillow_limit:
            warnings.simplefilter("error", Image.DecompressionBombWarning)
        else:
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
        try:
            with Image.open(BytesIO(data)) as image:
                frames = _frame_count(image, limits)
                budget = TextBudget(limits)
                for index in range(frames):
                    image.seek(index)
                    limits.check_pixels(*image.size)  # from the header: nothing decoded yet
                    # EXIF orientation first: a phone photo is stored sideways with a flag.
                    frame = ImageOps.exif_transpose(image.copy())
                    ocr_page(index + 1, frames)
                    pages.append(read_image(frame, options, index + 1, _dpi(image)))
                    budget.add_text(pages[-1].text)
        except (Image.DecompressionBombError, Image.DecompressionBombWarning):
            raise DocumentTooLarge(
                f"image is over {Image.MAX_IMAGE_PIXELS:,} pixels", "POLRAG_MAX_IMAGE_PIXELS"
            ) from None
        except (UnidentifiedImageError, OSError, SyntaxError, ValueError, EOFError, TypeError) as exc:
            raise BadDocumentError(f"corrupt image: {exc}") from None
    return pages


def _dpi(image: Any) -> float | None:
    """The resolution the file declares (TIFF, PNG pHYs, JPEG JFIF), None when it has none."""
    declared = image.info.get("dpi")
    try:
        dpi = float(declared[0]) if declared else 0.0
    except (TypeError, ValueError, IndexError):
        return None
    # Some writers store 1 or 72 as "unknown"; a page scanned that coarsely is not readable anyway.
    return dpi if dpi >= 100 else None


def _frame_count(image: Any, limits: DocumentLimits) -> int:
    """The image's frames, counted one seek at a time and refused past ``limits.pages``.

    Not ``n_frames``: for a TIFF it walks every frame first, each seek scanning the frames
    before it, so a few MB of small frames (400,000 in an upload's 50 MB) took hours.
    """
    count = 1
    while True:
        try:
            image.seek(count)
        except EOFError:
            break
        count += 1
        if count > limits.pages:
            raise DocumentTooLarge(
                f"image has more than {limits.pages:,} frames (pages)", "POLRAG_MAX_DOCUMENT_PAGES"
            )
    image.seek(0)
    return count
