"""Page images of stored documents: a PDF page rendered by PDFium, or a frame of an image document,
scaled to a width, with a passage's lines highlighted; kept in a small in-process cache.
"""

from __future__ import annotations

import hashlib
import io
import math
import threading
from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from rag.errors import NoOriginal, NoPageImage, PageNotFound, PageTooLarge
from rag.passage_boxes import Box, ocr_boxes, text_layer_boxes
from rag.pdf_image_sizes import image_sizes
from rag.pdfium_lock import PDFIUM_LOCK
from rag.types import ChunkSpan, DocumentInfo, OcrWord

if TYPE_CHECKING:
    from rag.page_source import PageSource

PDF = "application/pdf"
IMAGES = ("image/png", "image/jpeg", "image/tiff")
HIGHLIGHT = (255, 214, 0, 105)  # translucent yellow: the text stays readable under it
PAD = 0.002  # of the page: the highlight reaches a little past the glyphs
VERSION = "1"  # in the ETag: bump when the drawing changes


def has_page_images(media_type: str) -> bool:
    """Whether documents of this type have pages to show as images (PDF and image files)."""
    return media_type == PDF or media_type in IMAGES


@dataclass(frozen=True, slots=True)
class PageImage:
    png: bytes
    etag: str


class PageImages:
    """Renders page images, at most ``max_pixels`` each, caching up to ``cache_bytes`` of PNGs."""

    def __init__(self, max_pixels: int, cache_bytes: int) -> None:
        self.max_pixels = max_pixels
        self.cache_bytes = cache_bytes
        self._cache: OrderedDict[str, PageImage] = OrderedDict()
        self._cached_bytes = 0
        self._lock = threading.Lock()

    @staticmethod
    def etag(collection: PageSource, document: DocumentInfo, page: int, width: int, chunk: int | None) -> str:
        """The image's identity: a document id names its bytes, a chunk id is never reused within a
        collection (its name and creation time: chunk ids of two collections name other passages)."""
        made = collection.manifest.created_at
        key = f"{VERSION}\0{collection.name}\0{made}\0{document.id}\0{page}\0{width}\0{chunk}"
        return '"' + hashlib.sha256(key.encode()).hexdigest()[:32] + '"'

    def render(
        self,
        collection: PageSource,
        document: DocumentInfo,
        page: int,
        width: int,
        highlight: ChunkSpan | None = None,
    ) -> PageImage:
        """Page ``page`` (from 1) of ``document`` as PNG, ``width`` pixels wide; ``highlight``'s
        lines drawn on it where the passage lies on this page."""
        if not has_page_images(document.media_type):
            raise NoPageImage(
                f"{document.file_name} ({document.media_type}) has no page images; use its text view"
            )
        if not 1 <= page <= max(document.pages, 1):
            raise PageNotFound(f"{document.file_name} has {document.pages} page(s); there is no page {page}")
        etag = self.etag(collection, document, page, width, highlight.chunk_id if highlight else None)
        with self._lock:
            cached = self._cache.get(etag)
            if cached is not None:
                self._cache.move_to_end(etag)
                return cached
        data = collection.original(document.sha256)
        if data is None:
            raise NoOriginal(
                f"the original of {document.file_name} is not kept (it was added before originals "
                "were); upload it again to see its pages, or use its text view"
            )
        passage = _passage_on_page(collection, highlight, page) if highlight else None
        if document.media_type == PDF:
            # Read from the store first: PDFium's lock is held by nothing slower than PDFium.
            words = collection.page_words(document.id, page) if passage else ()
            image, boxes = self._pdf_page(data, page, width, passage, words, document)
        else:
            image = self._image_frame(data, page, width)
            boxes = ocr_boxes(collection.page_words(document.id, page), passage) if passage else []
        rendered = PageImage(_png(_draw(image, boxes)), etag)
        self._keep(rendered)
        return rendered

    def _keep(self, rendered: PageImage) -> None:
        size = len(rendered.png)
        if size > self.cache_bytes:
            return
        with self._lock:
            if rendered.etag in self._cache:
                return
            self._cache[rendered.etag] = rendered
            self._cached_bytes += size
            while self._cached_bytes > self.cache_bytes:
                _, old = self._cache.popitem(last=False)
                self._cached_bytes -= len(old.png)

    def _pdf_page(
        self,
        data: bytes,
        number: int,
        width: int,
        passage: str | None,
        words: Sequence[OcrWord],
        document: DocumentInfo,
    ) -> tuple[Any, list[Box]]:
        import pypdfium2 as pdfium

        with PDFIUM_LOCK:
            try:
                pdf = pdfium.PdfDocument(data)
            except pdfium.PdfiumError as exc:  # read by the pypdf fallback at ingest
                raise NoPageImage(
                    f"{document.file_name} cannot be drawn ({exc}); use its text view"
                ) from None
            try:
                if number > len(pdf):
                    raise PageNotFound(f"{document.file_name} has {len(pdf)} page(s), not {number}")
                page = pdf[number - 1]
                try:
                    page_width, page_height = page.get_size()
                    scale = width / max(page_width, 1e-3)
                    self._check_pixels(width, math.ceil(page_height * scale), number)
                    # PDFium decodes each image whole, whatever size it is drawn at.
                    for image_width, image_height in image_sizes(page):
                        self._check_pixels(image_width, image_height, number, "holds an image of")
                    bitmap = page.render(scale=scale)
                    image = bitmap.to_pil().copy()  # off PDFium's buffer, freed under this lock
                    bitmap.close()
                    if image.width > width:  # PDFium rounds the bitmap's size up
                        image = image.crop((0, 0, width, image.height))
                    boxes: list[Box] = []
                    if passage and words:
                        boxes = ocr_boxes(words, passage)
                    elif passage:  # OCR read the page as rendered; the text layer is unrotated
                        textpage = page.get_textpage()
                        try:
                            crop = page.get_cropbox()
                            boxes = text_layer_boxes(textpage, passage, crop, page.get_rotation())
                        finally:
                            textpage.close()
                finally:
                    page.close()
            finally:
                pdf.close()
        return image, boxes

    def _image_frame(self, data: bytes, number: int, width: int) -> Any:
        from PIL import Image, ImageOps, UnidentifiedImageError

        try:
            with Image.open(io.BytesIO(data)) as image:
                try:
                    image.seek(number - 1)
                except EOFError:
                    raise PageNotFound(f"the image has no frame {number}") from None
                self._check_pixels(*image.size, number, "is an image of")
                frame = ImageOps.exif_transpose(image.copy())  # as OCR read it
        except (UnidentifiedImageError, OSError, Image.DecompressionBombError) as exc:
            raise NoPageImage(f"the image cannot be drawn ({exc}); use its text view") from None
        height = max(1, round(frame.height * width / max(frame.width, 1)))
        self._check_pixels(width, height, number)
        return frame.convert("RGB").resize((width, height), Image.Resampling.LANCZOS)

    def _check_pixels(self, width: int, height: int, number: int, what: str = "renders to") -> None:
        if width * height > self.max_pixels:
            raise PageTooLarge(
                f"page {number} {what} {width:,} x {height:,} pixels, more than {self.max_pixels:,} "
                "(POLRAG_MAX_IMAGE_PIXELS)"
            )


def _passage_on_page(collection: PageSource, chunk: ChunkSpan, page: int) -> str | None:
    """The part of ``chunk`` that lies on ``page`` (a passage may span two), or None."""
    first = chunk.first_page if chunk.first_page is not None else page
    last = chunk.last_page if chunk.last_page is not None else first
    if not first <= page <= last:
        return None
    stored = collection.page_text(chunk.document_id, page)
    if stored is None:  # a collection made before page texts were kept: match the whole chunk
        return chunk.text
    start, text = stored
    begin = max(chunk.char_start, start) - start
    end = min(chunk.char_end, start + len(text)) - start
    return text[begin:end] if end > begin else None


def _draw(image: Any, boxes: list[Box]) -> Any:
    from PIL import Image, ImageDraw

    image = image.convert("RGBA")
    if not boxes:
        return image
    overlay = Image.new("RGBA", image.size, (0, 0, 0, 0))
    draw = ImageDraw.Draw(overlay)
    w, h = image.size
    for left, top, right, bottom in boxes:
        draw.rectangle(
            ((left - PAD) * w, (top - PAD) * h, (right + PAD) * w, (bottom + PAD) * h), fill=HIGHLIGHT
        )
    return Image.alpha_composite(image, overlay)


def _png(image: Any) -> bytes:
    buffer = io.BytesIO()
    # compress_level 3: a rendered page compresses nearly as well as at 9, several times faster.
    image.convert("RGB").save(buffer, format="PNG", compress_level=3)
    return buffer.getvalue()
