"""One loader per format; :func:`load_file` picks it from the file's content, not its name."""

from __future__ import annotations

import hashlib
import zipfile
from collections.abc import Callable, Sequence
from io import BytesIO
from pathlib import Path

from ingest.limits import DEFAULT_LIMITS, DocumentLimits
from ingest.loaders.archive import DIRECTORY_END_SPAN, check_member_count, read_member
from ingest.loaders.docx import load_docx
from ingest.loaders.html import load_html
from ingest.loaders.image import MAGIC, image_kind, load_image
from ingest.loaders.odt import load_odt
from ingest.loaders.pdf import load_pdf
from ingest.loaders.text import load_text
from ingest.ocr import OcrOptions
from rag.errors import BadDocumentError, UnsupportedFileType
from rag.types import Page, ParsedDocument

Loader = Callable[..., list[Page]]  # (data, limits) or, for OCR_KINDS, (data, limits, ocr options)
MIMETYPE_BYTES = 256  # "application/vnd.oasis.opendocument.text" and its siblings

MEDIA_TYPES = {
    "pdf": "application/pdf",
    "docx": "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
    "odt": "application/vnd.oasis.opendocument.text",
    "html": "text/html",
    "txt": "text/plain",
    "md": "text/markdown",
    "png": "image/png",
    "jpeg": "image/jpeg",
    "tiff": "image/tiff",
}
LOADERS: dict[str, Loader] = {
    "pdf": load_pdf,
    "docx": load_docx,
    "odt": load_odt,
    "html": load_html,
    "txt": load_text,
    "md": load_text,
    "png": load_image,
    "jpeg": load_image,
    "tiff": load_image,
}
# Loaders that read scanned pages take the OCR options too.
OCR_KINDS = frozenset({"pdf", "png", "jpeg", "tiff"})
IMAGE_KINDS = frozenset(MAGIC.values())  # the kinds image_kind can name
EXTENSIONS = {
    ".pdf": "pdf",
    ".docx": "docx",
    ".odt": "odt",
    ".html": "html",
    ".htm": "html",
    ".xhtml": "html",
    ".txt": "txt",
    ".text": "txt",
    ".md": "md",
    ".markdown": "md",
    ".png": "png",
    ".jpg": "jpeg",
    ".jpeg": "jpeg",
    ".tif": "tiff",
    ".tiff": "tiff",
}
SUPPORTED_SUFFIXES = frozenset(EXTENSIONS)


def detect_kind(data: bytes, file_name: str) -> str:
    """The format of ``data``, judged by its content; the extension only breaks ties.

    A file whose content contradicts its extension (a ``.pdf`` that is really a ZIP)
    is refused rather than parsed as something it is not.
    """
    return _judge(_sniff(data), file_name)


def detect_file_kind(path: Path, file_name: str) -> str:
    """:func:`detect_kind` for a file on disk, reading only its head (and a ZIP's directory)."""
    with open(path, "rb") as handle:
        head = handle.read(1024)
    if head.startswith(b"PK\x03\x04"):
        return _judge(_zip_kind(path), file_name)
    return _judge(_sniff(head), file_name)


def _judge(actual: str, file_name: str) -> str:
    suffix = Path(file_name).suffix.lower()
    claimed = EXTENSIONS.get(suffix)
    if claimed is None:
        if actual in ("pdf", "docx", "odt", "html") or actual in IMAGE_KINDS:
            return actual
        raise UnsupportedFileType(f"unsupported file type {suffix or '(no extension)'!r}")
    if actual == claimed:
        return actual
    if claimed in ("txt", "md", "html") and actual in ("text", "html"):
        return claimed
    raise BadDocumentError(
        f"content is not {claimed.upper()} (looks like {_describe_kind(actual)}); "
        "the file is corrupt or misnamed"
    )


def _sniff(data: bytes) -> str:
    head = data[:1024]
    if b"%PDF-" in head:  # the PDF spec allows junk before the header
        return "pdf"
    if head.startswith(b"PK\x03\x04"):
        return _zip_kind(data)
    if (image := image_kind(head)) is not None:
        return image
    if _looks_like_html(head):
        return "html"
    if _looks_binary(head):
        return "binary"
    return "text"


def load_file(
    path: Path,
    *,
    max_bytes: int | None = None,
    limits: DocumentLimits = DEFAULT_LIMITS,
    ocr: OcrOptions | None = None,
) -> ParsedDocument:
    """Read, identify and parse one file. Every problem is a :class:`BadDocumentError`."""
    try:
        size = path.stat().st_size
    except OSError as exc:
        raise BadDocumentError(f"cannot read file: {exc.strerror or exc}") from None
    if max_bytes is not None and size > max_bytes:
        raise BadDocumentError(
            f"file too large: {size / 2**20:.1f} MiB, the limit is {max_bytes / 2**20:g} MiB"
        )
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise BadDocumentError(f"cannot read file: {exc.strerror or exc}") from None
    return parse_bytes(data, path.name, limits, ocr=ocr)


def parse_bytes(
    data: bytes, file_name: str, limits: DocumentLimits = DEFAULT_LIMITS, *, ocr: OcrOptions | None = None
) -> ParsedDocument:
    """Parse a file already in memory; the pages come back raw (not yet cleaned).

    A document over one of ``limits`` raises :class:`DocumentTooLarge` as soon as the loader
    passes it, before the rest is extracted. ``ocr``: how scanned pages and images are read;
    None takes it from the settings.
    """
    if not data.strip():
        raise BadDocumentError("empty file")
    kind = detect_kind(data, file_name)
    pages = LOADERS[kind](data, limits, ocr) if kind in OCR_KINDS else LOADERS[kind](data, limits)
    limits.check_pages(len(pages))
    if not any(page.text.strip() for page in pages):
        raise BadDocumentError(no_text_reason(kind, pages, ocr))
    return ParsedDocument(
        file_name=file_name,
        media_type=MEDIA_TYPES[kind],
        sha256=hashlib.sha256(data).hexdigest(),
        pages=tuple(pages),
        size_bytes=len(data),
    )


def no_text_reason(kind: str, pages: Sequence[Page], ocr: OcrOptions | None = None) -> str:
    """Why a document yields no text, in one line: scanned with OCR off, OCR read nothing, ..."""
    scanned = sum(page.method == "ocr" for page in pages)
    if scanned:
        return f"no text found: OCR read nothing on {scanned} scanned page(s) (blank or unreadable)"
    if kind == "pdf":
        if (ocr or OcrOptions.configured()).mode == "off":
            return "no text layer (scanned?) and OCR is off (POLRAG_OCR=off)"
        return "no text layer (scanned?)"
    return "no text found in the document"


def _zip_kind(data: bytes | Path) -> str:
    check_member_count(_tail(data), "ZIP")
    try:
        with zipfile.ZipFile(BytesIO(data) if isinstance(data, bytes) else data) as archive:
            names = set(archive.namelist())
            if "word/document.xml" in names:
                return "docx"
            if "mimetype" in names:
                # Bounded: a "mimetype" member may be a bomb of its own.
                raw = read_member(archive, "mimetype", MIMETYPE_BYTES, "ZIP")
                if raw.decode("ascii", "replace").strip() == MEDIA_TYPES["odt"]:
                    return "odt"
    except zipfile.BadZipFile:
        return "binary"
    except BadDocumentError:
        return "zip"  # whatever it is, not an ODT
    return "zip"


def _tail(data: bytes | Path) -> bytes:
    if isinstance(data, bytes):
        return data[-DIRECTORY_END_SPAN:]
    with open(data, "rb") as handle:
        handle.seek(max(0, data.stat().st_size - DIRECTORY_END_SPAN))
        return handle.read()


def _looks_like_html(head: bytes) -> bool:
    lowered = head.lstrip(b"\xef\xbb\xbf \t\r\n").lower()
    return lowered.startswith((b"<!doctype html", b"<html", b"<?xml")) and b"<html" in head.lower()


def _looks_binary(head: bytes) -> bool:
    if head.startswith((b"\xff\xfe", b"\xfe\xff")):  # UTF-16 text has NULs but is text
        return False
    return b"\x00" in head


def _describe_kind(kind: str) -> str:
    return {
        "zip": "a ZIP archive",
        "binary": "binary data",
        "text": "plain text",
    }.get(kind, kind.upper())
