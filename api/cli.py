"""The `polrag` command line: a thin shell over rag/ and ingest/."""

from __future__ import annotations

import atexit
import json
import logging
import os
import sys
import traceback
from dataclasses import asdict
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any

import click
import typer

from rag.errors import ConfigError, DocumentNotFound, InvalidInput, ModelLoadError, PolragError

app = typer.Typer(
    help="polrag: ask questions about your own Polish documents.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
documents_app = typer.Typer(help="List, show and delete documents of a collection.", no_args_is_help=True)
app.add_typer(documents_app, name="documents")
collections_app = typer.Typer(help="List, copy and delete collections.", no_args_is_help=True)
app.add_typer(collections_app, name="collections")


class SearchMode(StrEnum):
    hybrid = "hybrid"
    dense = "dense"
    lexical = "lexical"


CollectionOpt = Annotated[
    str | None, typer.Option("--collection", "-c", help="Collection name (default: POLRAG_COLLECTION).")
]
JsonOpt = Annotated[bool, typer.Option("--json", help="Print machine-readable JSON.")]


def main() -> None:
    """Console-script entry: polrag errors become one clear line and exit code 2.

    The traceback behind that line shows at debug level (POLRAG_LOG_LEVEL=debug, or `serve --debug`).
    """
    logging.basicConfig(level=_log_level(), format="%(levelname)s %(name)s: %(message)s")
    # huggingface_hub prints its warnings through a handler of its own (added on import) and
    # passes them on to the root logger as well: each retry of an offline download showed twice.
    logging.getLogger("huggingface_hub").propagate = False
    try:
        app()
    except PolragError as exc:
        if logging.getLogger().isEnabledFor(logging.DEBUG):
            traceback.print_exc()
        typer.echo(f"error: {_one_line(str(exc))}", err=True)
        sys.exit(2)


def _one_line(message: str) -> str:
    # Messages may quote a library's multi-line error (the hub's); the CLI promises one line.
    return " ".join(line.strip() for line in message.splitlines() if line.strip())


def _log_level() -> int:
    # Read before the settings, so that their own errors can be shown at debug level too.
    name = os.environ.get("POLRAG_LOG_LEVEL", "WARNING").strip().upper() or "WARNING"
    level = logging.getLevelNamesMapping().get(name)
    if level is None:
        typer.echo(
            f"error: POLRAG_LOG_LEVEL: unknown level {name.lower()!r}; use debug, info, warning or error",
            err=True,
        )
        sys.exit(2)
    return level


def _library() -> Any:
    from rag.library import Library
    from rag.settings import load_settings

    library = Library(load_settings())
    # Closed when the command ends: a database store's pool holds connections and threads.
    context = click.get_current_context(silent=True)
    if context is not None:
        context.call_on_close(library.close)
    else:
        atexit.register(library.close)
    return library


def _print_json(data: object) -> None:
    typer.echo(json.dumps(data, ensure_ascii=False, indent=2))


@app.command()
def ingest(
    paths: Annotated[list[Path], typer.Argument(help="Files and folders (searched recursively).")],
    collection: CollectionOpt = None,
    as_json: JsonOpt = False,
    workers: Annotated[int | None, typer.Option("--workers", "-w", min=0, help="Parser processes.")] = None,
) -> None:
    """Add documents to a collection. Exit code 1 when any file failed (the rest is stored)."""
    from ingest.pipeline import ingest_paths

    library = _library()
    show_bar = sys.stderr.isatty() and not as_json
    try:
        with _progress(show_bar) as on_progress:
            report = ingest_paths(
                library, paths, collection=collection, workers=workers, on_progress=on_progress
            )
    except KeyboardInterrupt:
        typer.echo(
            "interrupted: the documents stored before it stay; run the same command again to "
            "finish (stored files are skipped)",
            err=True,
        )
        raise typer.Exit(130) from None
    if as_json:
        _print_json(report.to_json())
    else:
        rate = report.pages / report.seconds if report.seconds else 0.0
        typer.echo(
            f"added {len(report.added)}, replaced {len(report.replaced)}, "
            f"unchanged {len(report.unchanged)}, failed {len(report.failed)}; "
            f"{report.chunks} chunks from {report.pages} pages in {report.seconds:.1f} s ({rate:.1f} pages/s)"
        )
        for failure in report.failed:
            typer.echo(f"failed: {failure.path}: {failure.error}", err=True)
    raise typer.Exit(1 if report.failed else 0)


@app.command()
def search(
    query: Annotated[str, typer.Argument(help="What to look for, in Polish.")],
    collection: CollectionOpt = None,
    k: Annotated[int, typer.Option("-k", min=1, max=100, help="How many passages.")] = 5,
    mode: Annotated[
        SearchMode, typer.Option("--mode", "-m", help="hybrid (dense + lemmatised BM25), dense or lexical.")
    ] = SearchMode.hybrid,
    as_json: JsonOpt = False,
) -> None:
    """Find the passages that best match a query."""
    if not query.strip():
        raise ConfigError("the query is empty")
    hits = _library().search(query, collection=collection, k=k, mode=mode.value)
    if as_json:
        _print_json({"hits": [hit.to_json() for hit in hits]})
        return
    _print_hits(hits)


def _print_hits(hits: list[Any]) -> None:
    if not hits:
        typer.echo("no passages found")
    for rank, hit in enumerate(hits, start=1):
        page = f", s. {hit.page}" if hit.page is not None else ""
        typer.secho(
            f"[{rank}] {hit.file_name}{page}  (score {hit.score:.3f}, chunk {hit.chunk_id})", bold=True
        )
        typer.echo(f"    {_shorten(hit.text, 400)}")


@app.command()
def ask(
    question: Annotated[str, typer.Argument(help="The question, in Polish.")],
    collection: CollectionOpt = None,
    k: Annotated[
        int | None, typer.Option("-k", min=1, max=50, help="Passages to read (POLRAG_TOP_K).")
    ] = None,
    as_json: JsonOpt = False,
    show_prompt: Annotated[
        bool, typer.Option("--show-prompt", help="Print the rendered prompt and exit without generating.")
    ] = False,
) -> None:
    """Answer a question from the collection's documents, citing passages and pages."""
    from rag.answering import Answerer, DoneEvent, PassagesEvent, TokenEvent
    from rag.generation import load_generator
    from rag.prompt import NO_ANSWER
    from rag.types import Answer

    if not question.strip():
        raise InvalidInput("the question is empty")
    library = _library()
    # Checked before the generator loads (9.5 GB for Bielik): a mistyped collection or an empty
    # question is one line at once, not after a minute of loading or of the hub's retries.
    library.collection(collection)
    try:
        generator = load_generator(library.settings)  # a local model's tokenizer loads here
        if not show_prompt:
            generator.warm_up()
    except ModelLoadError:
        if not as_json:
            # Search works without the language model: show what it found, as the web page does
            # on a 503; the error line after it (exit 2) says why there is no answer.
            typer.echo("Brak odpowiedzi: model językowy jest niedostępny. Znalezione fragmenty:")
            _print_hits(library.search(question, collection=collection, k=k))
        raise
    answerer = Answerer(library, generator)
    if show_prompt:
        prepared = answerer.prepare(question, collection=collection, k=k)
        if prepared.prompt is None:
            typer.echo(f"(no passage is relevant enough; the answer would be: {NO_ANSWER})")
        else:
            typer.echo(answerer.generator.render(prepared.prompt.messages), nl=False)
        return
    live = sys.stdout.isatty() and not as_json
    answer: Answer | None = None
    for event in answerer.ask_stream(question, collection=collection, k=k):
        if isinstance(event, TokenEvent) and live:
            typer.echo(event.text, nl=False)
        elif isinstance(event, PassagesEvent) and live and event.passages:
            typer.secho(f"({len(event.passages)} passages)", dim=True, err=True)
        elif isinstance(event, DoneEvent):
            answer = event.answer
    assert answer is not None  # ask_stream always ends with DoneEvent
    if as_json:
        _print_json(answer.to_json())
        return
    typer.echo(answer.text if not live else "")
    if answer.citations:
        typer.secho("\nŹródła:", bold=True)
    for citation in answer.citations:
        page = f", s. {citation.page}" if citation.page is not None else ""
        mark = " (przypisane po treści)" if citation.inferred else ""
        typer.echo(f"[{citation.n}] {citation.document}{page}{mark}: {_shorten(citation.text, 160)}")


@app.command("eval")
def evaluate_retrieval(
    qa_file: Annotated[
        Path, typer.Argument(metavar="QA.jsonl", help='Lines of {"question", "document", "answer"?}.')
    ],
    collection: CollectionOpt = None,
    k: Annotated[int, typer.Option("-k", min=1, max=100, help="Passages retrieved per question.")] = 10,
    mode: Annotated[
        list[SearchMode] | None, typer.Option("--mode", "-m", help="Modes to evaluate (default: all three).")
    ] = None,
    as_json: JsonOpt = False,
) -> None:
    """Measure retrieval: recall@1/@5/@10, MRR@10 and latency per mode."""
    from rag.evaluation import evaluate, load_qa

    items = load_qa(qa_file)
    library = _library()
    target = library.collection(collection)
    _warn_of_absent_documents(items, target)
    results = []
    for chosen in mode or list(SearchMode):

        def search(question: str, depth: int, chosen: SearchMode = chosen) -> list[Any]:
            return library.retriever.retrieve(question, target, k=depth, mode=chosen.value)

        search("rozgrzewka", 1)  # load models and caches before timing
        results.append(evaluate(items, search, mode=chosen.value, k=k))
    if as_json:
        _print_json({"questions": len(items), "results": [m.to_json() for m in results]})
        return
    typer.echo(f"{len(items)} questions, collection {target.name!r}")
    typer.echo(f"{'mode':<8} {'R@1':>6} {'R@5':>6} {'R@10':>6} {'MRR@10':>7} {'p50 ms':>8} {'p95 ms':>8}")
    for m in results:
        typer.echo(
            f"{m.mode:<8} {m.recall_at_1:>6.3f} {m.recall_at_5:>6.3f} {m.recall_at_10:>6.3f} "
            f"{m.mrr_at_10:>7.3f} {m.latency_p50_ms:>8.1f} {m.latency_p95_ms:>8.1f}"
        )


def _warn_of_absent_documents(items: list[Any], target: Any) -> None:
    # A question naming a document the collection lacks can never be a hit: a typo in the QA
    # file or the wrong --collection silently lowered every recall before.
    known = {key for doc in target.documents() for key in (doc.file_name, doc.id)}
    absent = [item.document for item in items if item.document not in known]
    if absent:
        names = sorted(set(absent))
        shown = ", ".join(repr(name) for name in names[:3]) + (", …" if len(names) > 3 else "")
        typer.echo(
            f"warning: {len(absent)} of {len(items)} questions name a document that is not in "
            f"collection {target.name!r} ({shown}); they count as misses",
            err=True,
        )


@app.command()
def serve(
    host: Annotated[
        str | None,
        typer.Option(help="Address to bind (default: 127.0.0.1, or 0.0.0.0 when POLRAG_API_KEYS is set)."),
    ] = None,
    port: Annotated[int, typer.Option(min=1, max=65535, help="TCP port.")] = 8000,
    debug: Annotated[
        bool, typer.Option("--debug", help="Log at debug level; a failed start shows its traceback.")
    ] = False,
) -> None:
    """Run the HTTP API (models load once at start-up; a bad setting stops it with one line)."""
    from api.app import create_app, load_services
    from api.startup import listen_socket, serve_on
    from rag.settings import load_settings

    if debug:
        logging.getLogger().setLevel(logging.DEBUG)
    settings = load_settings()
    log = logging.getLogger("polrag.api")
    if host is None:
        host = "0.0.0.0" if settings.api_key_list else "127.0.0.1"
    # The port and the models are checked here, not in the app's lifespan: uvicorn would wrap
    # a failure there in its own traceback and "Application startup failed".
    listener = listen_socket(host, port)
    try:
        services = load_services(settings)
    except KeyboardInterrupt:
        listener.close()
        typer.echo("interrupted while loading the models", err=True)
        raise typer.Exit(130) from None
    except BaseException:
        listener.close()
        raise
    if not settings.api_key_list:
        exposed = host not in ("127.0.0.1", "localhost", "::1")
        log.warning(
            "POLRAG_API_KEYS is not set: the API has no authentication%s",
            f" and listens on {host}: anyone who reaches it can read and change the documents"
            if exposed
            else f", so it listens on {host} only",
        )
    verbose = logging.getLogger().isEnabledFor(logging.DEBUG)
    app_ = create_app(settings, services=services)
    if not serve_on(app_, listener, host=host, port=port, log_level="debug" if verbose else "info"):
        raise typer.Exit(3)


@documents_app.command("list")
def documents_list(collection: CollectionOpt = None, as_json: JsonOpt = False) -> None:
    """List the documents of a collection."""
    docs = _library().collection(collection).documents()
    if as_json:
        _print_json({"documents": [_document_json(doc) for doc in docs]})
        return
    for doc in docs:
        typer.echo(
            f"{doc.id}  {doc.file_name}  ({doc.pages} pages, {doc.chunks} chunks, read by {doc.read_by})"
        )
    typer.echo(f"{len(docs)} documents")


@documents_app.command("show")
def documents_show(
    document_id: Annotated[str, typer.Argument(metavar="ID")],
    collection: CollectionOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Show a document, the pages OCR read (flagged under the confidence floor) and its chunks."""
    library = _library()
    target = library.collection(collection)
    doc = target.document(document_id)
    if doc is None:
        raise DocumentNotFound(f"no document with id {document_id!r} in collection {target.name!r}")
    chunks = target.chunks_of(document_id)
    floor = library.settings.ocr_confidence_floor
    reads = target.page_reads(document_id)
    if as_json:
        data = _document_json(doc)
        data["ocr_pages"] = [
            {
                "page": r.page,
                "confidence": r.confidence,
                "words": r.words,
                "low_confidence": r.low_confidence(floor),
            }
            for r in reads
        ]
        data["chunks"] = [
            {
                "chunk_id": c.chunk_id,
                "ordinal": c.ordinal,
                "page": c.page,
                "last_page": c.last_page,
                "heading": c.heading,
                "text": c.text,
            }
            for c in chunks
        ]
        _print_json(data)
        return
    for key, value in _document_json(doc).items():
        typer.echo(f"{key}: {value}")
    if reads:
        low = [r for r in reads if r.low_confidence(floor)]
        typer.echo(f"OCR'd pages: {len(reads)}, {len(low)} under the confidence floor of {floor:g}")
        for r in reads:
            flag = "  LOW CONFIDENCE: check the text" if r.low_confidence(floor) else ""
            typer.echo(f"  s. {r.page}  OCR, confidence {r.confidence or 0:.1f}{flag}")
    for chunk in chunks:
        # TXT, MD and HTML have no pages: no "s. None", and no "None" for a chunk without a heading.
        page = f" s. {chunk.page}" if chunk.page is not None else ""
        heading = f"  {chunk.heading}" if chunk.heading else ""
        typer.echo(f"  #{chunk.ordinal}{page}{heading}  {_shorten(chunk.text, 120)}")


@documents_app.command("delete")
def documents_delete(
    document_id: Annotated[str, typer.Argument(metavar="ID")],
    collection: CollectionOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Delete a document: its chunks, vectors and catalogue rows together."""
    target = _library().collection(collection)
    if not target.delete_document(document_id):
        raise DocumentNotFound(f"no document with id {document_id!r} in collection {target.name!r}")
    if as_json:
        _print_json({"deleted": document_id})
    else:
        typer.echo(f"deleted {document_id}")


@collections_app.command("list")
def collections_list(as_json: JsonOpt = False) -> None:
    """List the collections with their numbers of documents and chunks."""
    infos = _library().collections()
    if as_json:
        _print_json({"collections": [asdict(info) for info in infos]})
        return
    for info in infos:
        size = f"{info.documents} documents, {info.chunks} chunks" if info.error is None else info.error
        typer.echo(f"{info.name}  ({size})")
    typer.echo(f"{len(infos)} collections")


@collections_app.command("copy")
def collections_copy(
    name: Annotated[str, typer.Argument(metavar="NAME")],
    to: Annotated[
        str,
        typer.Option(
            "--to",
            help="postgresql://… to copy into that database, or a folder to copy into as the embedded "
            "store's index dir.",
        ),
    ],
    as_json: JsonOpt = False,
) -> None:
    """Copy a collection from the configured store to another, keeping document ids and vectors."""
    from rag.moving import copy_collection
    from rag.settings import load_settings
    from rag.stores import open_backend

    settings = load_settings()
    source = open_backend(settings)
    if to.startswith(("postgresql://", "postgres://")):
        target = open_backend(settings, database_url=to)
    else:
        target = open_backend(settings.model_copy(update={"index_dir": Path(to)}), database_url="")
    try:
        report = copy_collection(source, target, name)
    finally:
        source.close()
        target.close()
    if as_json:
        _print_json({"collection": name, **asdict(report)})
    else:
        typer.echo(
            f"copied {report.documents} documents ({report.chunks} chunks) of {name}; "
            f"{report.already_there} were already there"
        )


@collections_app.command("delete")
def collections_delete(
    name: Annotated[str, typer.Argument(metavar="NAME")],
    as_json: JsonOpt = False,
) -> None:
    """Delete a collection with all its documents and files (waits for a writer to finish)."""
    _library().delete_collection(name)
    if as_json:
        _print_json({"deleted": name})
    else:
        typer.echo(f"deleted collection {name}")


def _document_json(doc: Any) -> dict[str, Any]:
    return {**asdict(doc), "read_by": doc.read_by}


def _shorten(text: str, limit: int) -> str:
    flat = " ".join(text.split())
    return flat if len(flat) <= limit else flat[: limit - 1] + "…"


class _progress:
    """Two rich progress rows, parsing (files) and embedding (chunks), or nothing off a terminal.

    The stages overlap: files parse while the model loads and while earlier files embed.
    """

    def __init__(self, enabled: bool) -> None:
        self.enabled = enabled

    def __enter__(self) -> Any:
        if not self.enabled:
            return None
        import time

        from rich.console import Console
        from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

        self._bar = Progress(
            TextColumn("{task.description:<8}"),
            BarColumn(),
            TextColumn("{task.fields[count]}"),
            TimeElapsedColumn(),
            TextColumn("{task.fields[rates]}"),
            console=Console(stderr=True),  # stdout keeps only the summary (rich's default is stdout)
            transient=False,
        )
        self._bar.start()
        parse = self._bar.add_task("parsed", total=None, count="", rates="")
        embed = self._bar.add_task("embedded", total=None, count="", rates="")
        started = time.perf_counter()
        parsing = {"files": 0, "seconds": 1e-6}  # the rate stays what it was when parsing ended

        def update(report: Any, total: int) -> None:
            elapsed = max(time.perf_counter() - started, 1e-6)
            if report.parsed != parsing["files"]:
                parsing.update(files=report.parsed, seconds=elapsed)
            self._bar.update(
                parse,
                completed=report.parsed,
                total=total,
                count=f"{report.parsed}/{total} files",
                rates=f"{report.parsed / parsing['seconds']:.1f} files/s",
            )
            done, known = report.chunks_embedded, report.chunks_parsed
            count = f"{done}/{known} chunks" + (" (loading the model)" if report.model_loading else "")
            rates = "" if report.model_loading else f"{done / elapsed:.0f} chunks/s"
            self._bar.update(embed, completed=done, total=known or None, count=count, rates=rates)

        return update

    def __exit__(self, *exc: object) -> None:
        if self.enabled:
            self._bar.stop()
