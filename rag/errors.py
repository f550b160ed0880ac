"""The error hierarchy of polrag. HTTP status codes live in ``api/``, not here."""

from __future__ import annotations


class PolragError(Exception):
    """Base class of every error polrag raises on purpose."""

    @property
    def public_message(self) -> str:
        """The message for API clients: no server-side paths (the CLI prints the full one)."""
        return str(self)


class ConfigError(PolragError):
    """A setting is invalid; the message names the setting."""


class BadDocumentError(PolragError):
    """A file cannot be ingested: corrupt, encrypted, empty, scanned, wrong type, too large."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class DocumentTooLarge(BadDocumentError):
    """A document is over a per-document limit; the message names the setting that raises it."""

    def __init__(self, what: str, setting: str) -> None:
        super().__init__(f"{what} (the limit is {setting}; raise it to ingest this document)")
        self.setting = setting


class UnsupportedFileType(BadDocumentError):
    """The file is of a type polrag has no loader for."""


class CollectionError(PolragError):
    """A collection cannot be opened or written."""


class CollectionNotFound(CollectionError):
    """The named collection does not exist."""

    def __init__(self, name: str, index_dir: object) -> None:
        super().__init__(f"collection {name!r} does not exist in {index_dir}")
        self.name = name

    @property
    def public_message(self) -> str:
        return f"collection {self.name!r} does not exist"


class EmbeddingMismatch(CollectionError):
    """A collection was built with another embedding model than the one configured."""


class CollectionBusy(CollectionError):
    """Another writer holds the collection's lock."""


class StoreUnavailable(PolragError):
    """The database holding the collections cannot be reached, or has no free connection."""


class DocumentNotFound(PolragError):
    """No document with that id in the collection."""


class PageNotFound(PolragError):
    """The document has no such page, or the passage asked for is not in it."""


class NoPageImage(PolragError):
    """The document's format has no page to show as an image (DOCX, ODT, HTML, TXT, MD)."""


class NoOriginal(PolragError):
    """The document's original file is not kept (stored before originals were), so no page image."""


class PageTooLarge(PolragError):
    """A page would render to more pixels than POLRAG_MAX_IMAGE_PIXELS allows."""


class ModelLoadError(PolragError):
    """A model could not be loaded; the message says what to do."""


class PromptTooLong(PolragError):
    """The question (with the best passage) does not fit in the generator's context."""


class GenerationError(PolragError):
    """The generator failed while answering; the message says why and what to do."""


class InvalidInput(PolragError):
    """A request is malformed: an empty question, a bad conversation turn."""


class EmbeddingServerError(ModelLoadError):
    """The embedding server is down, overloaded, or answers with something unusable."""
