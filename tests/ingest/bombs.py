"""Builders of hostile documents: small files that expand into hundreds of MiB, pages or pixels.

Each is built in a few seconds without holding its expansion in memory (members are
compressed piece by piece), so tests can make them instead of shipping them.
"""

from __future__ import annotations

import random
import shutil
import struct
import zipfile
import zlib
from pathlib import Path

from tests.ingest.fixtures import ODT_MIMETYPE, ODT_NS

W_NS = "http://schemas.openxmlformats.org/wordprocessingml/2006/main"
CONTENT_TYPES = (
    '<?xml version="1.0" encoding="UTF-8"?>'
    '<Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types">'
    '<Default Extension="rels" ContentType="application/vnd.openxmlformats-package.relationships+xml"/>'
    '<Default Extension="xml" ContentType="application/xml"/>'
    '<Override PartName="/word/document.xml" ContentType="application/vnd.openxmlformats-'
    'officedocument.wordprocessingml.document.main+xml"/></Types>'
)
PACKAGE_RELS = (
    '<?xml version="1.0" encoding="UTF-8"?>'
    '<Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships">'
    '<Relationship Id="rId1" Type="http://schemas.openxmlformats.org/officeDocument/2006/'
    'relationships/officeDocument" Target="word/document.xml"/></Relationships>'
)
WORDS = (
    "ustawa rozporządzenie minister sprawy zdrowia odpady zakaźne gmina powiat województwo "
    "przepis artykuł ustęp punkt termin wykonanie dzień ogłoszenie obowiązek podatek dochód"
).split()


def _paragraphs(template: str, total_bytes: int, seed: int = 17):  # type: ignore[no-untyped-def]
    """Ordinary paragraphs of Polish words, about ``total_bytes`` of XML in 1 MiB pieces."""
    rng = random.Random(seed)
    # A hundred distinct paragraphs (within deflate's 32 KiB window) repeated: packs about 200 to 1,
    # as the bomb did.
    pool = [
        template.format(" ".join(rng.choice(WORDS) for _ in range(12)) + f" {n}.").encode()
        for n in range(100)
    ]
    piece = b"".join(pool)
    while len(piece) < 2**20:
        piece += piece
    written = 0
    while written < total_bytes:
        yield piece
        written += len(piece)


def _write_member(
    archive: zipfile.ZipFile, name: str, head: str, paragraph: str, tail: str, size: int
) -> None:
    info = zipfile.ZipInfo(name, date_time=(2020, 1, 1, 0, 0, 0))
    info.compress_type = zipfile.ZIP_DEFLATED
    with archive.open(info, "w") as member:
        member.write(head.encode())
        for piece in _paragraphs(paragraph, size):
            member.write(piece)
        member.write(tail.encode())


def odt_bomb(path: Path, unpacked_mb: int = 400) -> Path:
    """An ODT whose content.xml inflates to ``unpacked_mb`` MiB of ordinary paragraphs."""
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED, compresslevel=9) as archive:
        archive.writestr(zipfile.ZipInfo("mimetype"), ODT_MIMETYPE, compress_type=zipfile.ZIP_STORED)
        head = (
            f'<?xml version="1.0" encoding="UTF-8"?><office:document-content {ODT_NS}>'
            "<office:body><office:text>"
        )
        _write_member(
            archive,
            "content.xml",
            head,
            "<text:p>{}</text:p>",
            "</office:text></office:body></office:document-content>",
            unpacked_mb * 2**20,
        )
    return path


def docx_bomb(path: Path, unpacked_mb: int = 400) -> Path:
    """A DOCX whose word/document.xml inflates to ``unpacked_mb`` MiB of ordinary paragraphs."""
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED, compresslevel=9) as archive:
        archive.writestr("[Content_Types].xml", CONTENT_TYPES)
        archive.writestr("_rels/.rels", PACKAGE_RELS)
        head = f'<?xml version="1.0" encoding="UTF-8"?><w:document xmlns:w="{W_NS}"><w:body>'
        _write_member(
            archive,
            "word/document.xml",
            head,
            "<w:p><w:r><w:t>{}</w:t></w:r></w:p>",
            "</w:body></w:document>",
            unpacked_mb * 2**20,
        )
    return path


def lie_about_sizes(path: Path, member: str, claimed: int) -> Path:
    """Rewrite ``member``'s unpacked size in both ZIP headers to ``claimed`` bytes: headers can lie."""
    data = bytearray(path.read_bytes())
    with zipfile.ZipFile(path) as archive:
        info = archive.getinfo(member)
    struct.pack_into("<I", data, info.header_offset + 22, claimed)  # local header
    at = 0
    while (at := data.find(b"PK\x01\x02", at)) >= 0:  # central directory entries
        name_length = struct.unpack_from("<H", data, at + 28)[0]
        if bytes(data[at + 46 : at + 46 + name_length]) == member.encode():
            struct.pack_into("<I", data, at + 24, claimed)
            break
        at += 4
    path.write_bytes(bytes(data))
    return path


def entity_bomb_odt(path: Path) -> Path:
    """An ODT whose content.xml is a 'billion laughs': ten entities, each ten of the one before."""
    entities = '<!ENTITY lol0 "Zażółć gęślą jaźń. ">' + "".join(
        f'<!ENTITY lol{i} "{f"&lol{i - 1};" * 10}">' for i in range(1, 10)
    )
    content = (
        f'<?xml version="1.0" encoding="UTF-8"?><!DOCTYPE office:document-content [{entities}]>'
        f"<office:document-content {ODT_NS}><office:body><office:text>"
        "<text:p>&lol9;</text:p></office:text></office:body></office:document-content>"
    )
    return _odt(path, content)


def xxe_odt(path: Path, target: str = "/etc/passwd") -> Path:
    """An ODT whose text pulls in a local file through an external entity."""
    content = (
        '<?xml version="1.0" encoding="UTF-8"?>'
        f'<!DOCTYPE office:document-content [<!ENTITY xxe SYSTEM "file://{target}">]>'
        f"<office:document-content {ODT_NS}><office:body><office:text>"
        "<text:p>Umowa najmu lokalu.</text:p><text:p>&xxe;</text:p>"
        "</office:text></office:body></office:document-content>"
    )
    return _odt(path, content)


def _odt(path: Path, content: str) -> Path:
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr(zipfile.ZipInfo("mimetype"), ODT_MIMETYPE, compress_type=zipfile.ZIP_STORED)
        archive.writestr("content.xml", content)
    return path


def png_bomb(path: Path, width: int = 100_000, height: int = 100_000) -> Path:
    """A PNG of a few KiB declaring ``width`` x ``height`` pixels (10 gigapixels by default)."""

    def chunk(kind: bytes, body: bytes) -> bytes:
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))

    compressor = zlib.compressobj(9)
    row = b"\x00" * (width // 8 + 1)  # 1-bit greyscale: filter byte + packed pixels
    idat = b"".join(compressor.compress(row) for _ in range(64)) + compressor.flush()
    header = struct.pack(">IIBBBBB", width, height, 1, 0, 0, 0, 0)
    path.write_bytes(
        b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", idat) + chunk(b"IEND", b"")
    )
    return path


def blank_pages_pdf(path: Path, pages: int = 20_000) -> Path:
    """A valid PDF of ``pages`` empty pages (about 1.5 MB), written object by object."""
    objects = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Count %d /Kids [%s] >>"
        % (pages, b" ".join(b"%d 0 R" % (3 + i) for i in range(pages))),
    ]
    objects += [b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 595 842] >>"] * pages
    out = bytearray(b"%PDF-1.7\n")
    offsets = []
    for number, body in enumerate(objects, start=1):
        offsets.append(len(out))
        out += b"%d 0 obj\n%s\nendobj\n" % (number, body)
    xref = len(out)
    out += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1)
    out += b"".join(b"%010d 00000 n \n" % offset for offset in offsets)
    out += b"trailer\n<< /Size %d /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (len(objects) + 1, xref)
    path.write_bytes(bytes(out))
    return path


# file name -> (builder, what the one-line reason says); None: built from another below
BOMBS: dict[str, tuple[object, str]] = {
    "bomba.odt": (odt_bomb, "POLRAG_MAX_COMPRESSION_RATIO"),
    "bomba.docx": (docx_bomb, "unpacks to 401 MiB, more than 64 MiB"),
    "klamca.odt": (None, "Bad CRC-32"),
    "klamca.docx": (None, "Bad CRC-32"),
    "smiech.odt": (entity_bomb_odt, "declares XML entities"),
    "skan.png": (png_bomb, "(the limit is POLRAG_MAX_IMAGE_PIXELS"),  # a document since OCR
    "skan.pdf": (png_bomb, "content is not PDF"),
    "puste.pdf": (blank_pages_pdf, "document has 20,000 pages, more than 5,000"),
}


def build_all(folder: Path) -> Path:
    """Every bomb of BOMBS in ``folder`` (about 8 s, mostly compressing 800 MiB of XML); kept."""
    if (folder / "klamca.docx").exists():
        return folder
    folder.mkdir(parents=True, exist_ok=True)
    for name, (build, _) in BOMBS.items():
        if build is not None:
            build(folder / name)  # type: ignore[operator]
    # Headers that lie: the members still inflate to 400 MiB, the directory says much less.
    lie_about_sizes(shutil.copy(folder / "bomba.odt", folder / "klamca.odt"), "content.xml", 1000)
    lie_about_sizes(
        shutil.copy(folder / "bomba.docx", folder / "klamca.docx"), "word/document.xml", 20 * 2**20
    )
    return folder
