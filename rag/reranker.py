"""Cross-encoder reranking of fused candidates (sentence-transformers CrossEncoder)."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import replace
from typing import Any

from rag.device import resolve_device
from rag.errors import ModelLoadError
from rag.hub import hub_options
from rag.types import Hit

log = logging.getLogger(__name__)


class Reranker:
    """Scores (query, passage) pairs jointly; slower than retrieval, so only the top few."""

    def __init__(
        self, model: str, *, device: str = "auto", batch_size: int = 16, max_length: int = 512
    ) -> None:
        if not model.strip():
            raise ValueError("model must name a hub id or a local folder.")
        self.model_name = model
        self.batch_size = batch_size
        self.max_length = max_length
        self._device_setting = device
        self._model: Any = None

    def warm_up(self) -> None:
        if self._model is not None:
            return
        from sentence_transformers import CrossEncoder

        device = resolve_device(self._device_setting)
        try:
            self._model = CrossEncoder(
                self.model_name, device=device, max_length=self.max_length, **hub_options(self.model_name)
            )
        except Exception as exc:
            raise ModelLoadError(
                f"cannot load reranker {self.model_name!r} (POLRAG_RERANKER_MODEL): {exc}; "
                "set POLRAG_RERANKER_MODEL= (empty) to turn reranking off"
            ) from exc
        if device == "cuda":
            self._model.model.half()
        log.info("reranker %s on %s", self.model_name, device)

    def rerank(self, query: str, hits: Sequence[Hit]) -> list[Hit]:
        """``hits`` reordered by the cross-encoder; its score replaces the fused one."""
        if not hits:
            return []
        self.warm_up()
        scores = self._model.predict(
            [(query, hit.text) for hit in hits], batch_size=self.batch_size, show_progress_bar=False
        )
        rescored = [
            replace(hit, score=float(score), extra={**hit.extra, "fused": hit.score})
            for hit, score in zip(hits, scores, strict=True)
        ]
        return sorted(rescored, key=lambda hit: -hit.score)
