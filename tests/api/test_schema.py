"""Property-based requests from the OpenAPI schema (schemathesis): no input yields a 5xx."""

from __future__ import annotations

from pathlib import Path

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis.checks import not_a_server_error

from tests.api.conftest import ODPADY


@pytest.fixture(scope="module")
def api_schema(tmp_path_factory: pytest.TempPathFactory, minilm_path: str, embedder, tiny_generator):  # type: ignore[no-untyped-def]
    from api.app import create_app
    from ingest.pipeline import ingest_paths
    from rag.library import Library
    from rag.settings import load_settings

    config = load_settings(
        index_dir=tmp_path_factory.mktemp("schema-index"),
        embedding_model=minilm_path,
        device="cpu",
        llm_model=tiny_generator.model_name,
        llm_max_new_tokens=4,
        max_upload_mb=1,
        api_keys="",
    )
    library = Library(config, embedder=embedder)
    ingest_paths(library, [Path(ODPADY)], workers=0)
    app = create_app(config, library=library, generator=tiny_generator)
    return schemathesis.openapi.from_asgi("/openapi.json", app)


def test_generated_requests_never_get_a_server_error(api_schema) -> None:  # type: ignore[no-untyped-def]
    # Each operation's strategy driven by hypothesis directly: schemathesis' pytest plugin
    # does not run under pytest 9.
    operations = [result.ok() for result in api_schema.get_all_operations()]
    assert len(operations) >= 9
    for operation in operations:

        @given(case=operation.as_strategy())
        @settings(max_examples=25, deadline=None, suppress_health_check=list(HealthCheck), database=None)
        def run(case) -> None:  # type: ignore[no-untyped-def]
            response = case.call()
            case.validate_response(response, checks=[not_a_server_error])
            if response.status_code >= 400:
                assert set(response.json()["error"]) == {"code", "message"}, response.text

        run()
