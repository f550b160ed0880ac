"""ZIP-based documents (DOCX, ODT) and their XML, read so that they cannot expand unbounded.

The archive's directory is checked before any member is read: too many members, a
compression method office files never use, a ratio only a zip bomb has. A member is then
read in small pieces and counted, so reading stops at the limit whatever its header claims
(``ZipFile.read`` trusts the header and inflates a lying member whole before cutting it).
XML is parsed without entities, DTDs or network, within libxml2's default depth bound.
"""

from __future__ import annotations

import re
import struct
import zipfile
from io import BytesIO
from typing import Any

from ingest.limits import DocumentLimits
from rag.errors import BadDocumentError, DocumentTooLarge

MAX_MEMBERS = 10_000  # a DOCX with hundreds of images has a few hundred
RATIO_FLOOR = 8 * 2**20  # small parts compress well legitimately (repeated styles)
READ_PIECE = 64 * 2**10
METHODS = frozenset({zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED})  # what ODF and OOXML use
END_OF_DIRECTORY = b"PK\x05\x06"
DIRECTORY_END_SPAN = 22 + 65_535  # the end record and the longest comment it may carry
ROOT_START = re.compile(rb"<[^?!]")


def open_archive(data: bytes, limits: DocumentLimits, kind: str) -> zipfile.ZipFile:
    """A ZIP whose directory passed the checks; :class:`BadDocumentError` names the problem."""
    check_member_count(data[-DIRECTORY_END_SPAN:], kind)
    try:
        archive = zipfile.ZipFile(BytesIO(data))
    except (zipfile.BadZipFile, OSError, ValueError) as exc:
        raise BadDocumentError(f"corrupt {kind}: {exc}") from None
    try:
        for info in archive.infolist():
            _check_member(info, limits, kind)
    except BadDocumentError:
        archive.close()
        raise
    return archive


def read_member(archive: zipfile.ZipFile, name: str, limit: int, kind: str) -> bytes:
    """The bytes of member ``name``, refused as soon as more than ``limit`` of them come out.

    A missing member raises ``KeyError`` (zipfile's own message), for the loader to word.
    """
    info = archive.getinfo(name)
    what = f"{kind} part {name}"
    if info.file_size > limit:
        raise DocumentTooLarge(
            f"{what} unpacks to {info.file_size / 2**20:.0f} MiB, more than {limit / 2**20:g} MiB",
            "POLRAG_MAX_MARKUP_MB",
        )
    pieces: list[bytes] = []
    size = 0
    try:
        with archive.open(info) as stream:
            while piece := stream.read(READ_PIECE):
                size += len(piece)
                if size > limit:  # the header lied about the size
                    raise DocumentTooLarge(
                        f"{what} unpacks past {limit / 2**20:g} MiB", "POLRAG_MAX_MARKUP_MB"
                    )
                pieces.append(piece)
    except (zipfile.BadZipFile, EOFError, OSError, ValueError) as exc:
        raise BadDocumentError(f"corrupt {kind}: {name}: {exc}") from None
    return b"".join(pieces)


def parse_xml(data: bytes, what: str) -> Any:
    """An lxml element tree of ``data``: no entity expansion, no DTD, no network, depth ≤ 256."""
    from lxml import etree

    root_at = ROOT_START.search(data)
    if b"<!ENTITY" in data[: root_at.start() if root_at else len(data)]:
        raise BadDocumentError(
            f"{what} declares XML entities, which polrag does not expand; "
            "save the document again from its editor"
        )
    parser = etree.XMLParser(resolve_entities=False, no_network=True, load_dtd=False, huge_tree=False)
    return etree.fromstring(data, parser=parser)


def _check_member(info: zipfile.ZipInfo, limits: DocumentLimits, kind: str) -> None:
    if info.compress_type not in METHODS:
        raise BadDocumentError(
            f"corrupt {kind}: part {info.filename} uses compression method {info.compress_type}, "
            "which office documents do not use"
        )
    if info.file_size > RATIO_FLOOR and info.file_size > limits.compression_ratio * max(
        info.compress_size, 1
    ):
        ratio = info.file_size / max(info.compress_size, 1)
        raise DocumentTooLarge(
            f"{kind} part {info.filename} is packed {ratio:.0f} to 1 "
            f"({info.compress_size / 2**20:.1f} MiB unpacking to {info.file_size / 2**20:.0f} MiB), "
            f"more than {limits.compression_ratio} to 1 as only zip bombs are",
            "POLRAG_MAX_COMPRESSION_RATIO",
        )


def check_member_count(tail: bytes, kind: str) -> None:
    """Refuse a directory of more than MAX_MEMBERS entries before zipfile builds an object for each.

    ``tail`` is the archive's last DIRECTORY_END_SPAN bytes, where its end record is.
    """
    at = tail.rfind(END_OF_DIRECTORY)
    if at < 0 or at + 16 > len(tail):
        return  # zipfile says what is wrong
    entries, directory_size = struct.unpack("<HI", tail[at + 10 : at + 16])
    if entries == 0xFFFF:  # ZIP64: the count is elsewhere; every entry takes at least 46 bytes
        entries = directory_size // 46
    if entries > MAX_MEMBERS:
        raise BadDocumentError(f"corrupt {kind}: {entries:,} parts in the archive, more than {MAX_MEMBERS:,}")
