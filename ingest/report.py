"""What a batch did and does: one outcome per file, and the live counts a progress display reads."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from ingest.prepare import FailedFile


@dataclass(frozen=True, slots=True)
class FileOutcome:
    """What happened to one file: its name in the collection, status and document."""

    name: str
    status: str  # added | replaced | unchanged | failed
    document_id: str | None = None
    pages: int = 0
    chunks: int = 0
    error: str | None = None
    limit: str | None = None  # the setting a failed file is over, when that is why it failed


@dataclass
class IngestReport:
    """What a batch did: one outcome per file (the lists by status derive from them)."""

    failed: list[FailedFile] = field(default_factory=list)  # with the paths, for the CLI
    chunks: int = 0  # embedded and stored so far
    pages: int = 0
    seconds: float = 0.0
    outcomes: list[FileOutcome] = field(default_factory=list)
    parsed: int = 0  # files past parsing (parsed, failed, or unchanged and never parsed)
    chunks_parsed: int = 0  # chunks of the parsed files: what embedding has before it
    chunks_embedded: int = 0
    model_loading: bool = False  # the embedder's weights are loading while files parse
    model_load_s: float | None = None  # how long they took, from the end of the checks for unchanged files

    def fail(self, failure: FailedFile, name: str | None = None) -> None:
        self.failed.append(failure)
        self.outcomes.append(
            FileOutcome(name or failure.path, "failed", error=failure.error, limit=failure.limit)
        )

    @property
    def added(self) -> list[str]:
        return self._named("added")

    @property
    def replaced(self) -> list[str]:
        return self._named("replaced")

    @property
    def unchanged(self) -> list[str]:
        return self._named("unchanged")

    @property
    def documents(self) -> int:
        return len(self.outcomes)

    def to_json(self) -> dict[str, object]:
        return {
            "added": len(self.added),
            "replaced": len(self.replaced),
            "unchanged": len(self.unchanged),
            "failed": [{"path": f.path, "error": f.error} for f in self.failed],
            "chunks": self.chunks,
        }

    def _named(self, status: str) -> list[str]:
        return [o.name for o in self.outcomes if o.status == status]


ProgressCallback = Callable[[IngestReport, int], None]
