"""Images as documents: PNG, JPEG and TIFF (each frame of a multi-page TIFF is a page), read by OCR."""

from __future__ import annotations

import warnings
from io import BytesIO

from ingest.limits import DEFAULT_LIMITS, DocumentLimits, TextBudget
from ingest.ocr import OcrOptions, read_image
from rag.errors import BadDocumentError, DocumentTooLarge
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

    options = ocr or _options_from_settings()
    pages = []
    # Pillow's decompression-bomb guard stays on: its warning (past MAX_IMAGE_PIXELS) is an
    # error here too, so a small file cannot unpack into gigabytes of pixels.
    with warnings.catch_warnings():
        warnings.simplefilter("error", Image.DecompressionBombWarning)
        try:
            with Image.open(BytesIO(data)) as image:
                frames = getattr(image, "n_frames", 1)
                limits.check_pages(frames)
                budget = TextBudget(limits)
                for index in range(frames):
                    image.seek(index)
                    limits.check_pixels(*image.size)  # from the header: nothing decoded yet
                    # EXIF orientation first: a phone photo is stored sideways with a flag.
                    frame = ImageOps.exif_transpose(image.copy())
                    pages.append(read_image(frame, options, index + 1))
                    budget.add_text(pages[-1].text)
        except (Image.DecompressionBombError, Image.DecompressionBombWarning):
            raise DocumentTooLarge(
                f"image is over {Image.MAX_IMAGE_PIXELS:,} pixels", "POLRAG_MAX_IMAGE_PIXELS"
            ) from None
        except (UnidentifiedImageError, OSError, SyntaxError, ValueError, EOFError) as exc:
            raise BadDocumentError(f"corrupt image: {exc}") from None
    return pages


def _options_from_settings() -> OcrOptions:
    from rag.settings import get_settings

    return OcrOptions.from_settings(get_settings())
