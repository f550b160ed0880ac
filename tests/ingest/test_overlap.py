"""The stages of an ingest overlap: the real MiniLM loads while the first files parse.

Each test loads a fresh MiniLM (not the session's warm one): the load is what they watch. The
load's end is observed through a hook on the real ``warm_up`` (it records when the weights are
there, nothing else changes); the parse through the pipeline's own stage reports.
"""

from __future__ import annotations

import os
import pty
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

from ingest.pipeline import SourceFile, ingest_files
from rag.embedder_files import read_model_files
from rag.embeddings import Embedder
from rag.errors import ModelLoadError
from rag.library import Library
from rag.progress import Stage

WORDS = "las rzeka góra miasto szkoła urząd sąd podatek ustawa drzewo żółw łąka".split()


class TimedEmbedder(Embedder):
    """The real embedder; records when its weights were first there."""

    loaded_at: float | None = None

    def warm_up(self) -> None:
        super().warm_up()
        if self.loaded_at is None:
            self.loaded_at = time.monotonic()


class Recorder:
    """An IngestProgress that timestamps every stage report."""

    def __init__(self) -> None:
        self.seen: list[tuple[float, str, Stage]] = []

    def stage(
        self, path: str, stage: Stage, ocr_page: int | None = None, ocr_pages: int | None = None
    ) -> None:
        self.seen.append((time.monotonic(), Path(path).name, stage))

    def times(self, stage: Stage) -> list[float]:
        return [when for when, _, seen in self.seen if seen == stage]


def write_corpus(folder: Path, count: int) -> list[SourceFile]:
    folder.mkdir()
    files = []
    for i in range(count):
        text = " ".join(
            f"Dokument {i} opisuje temat {WORDS[(i + j) % len(WORDS)]} w punkcie {j}." for j in range(30)
        )
        path = folder / f"dok_{i:02d}.txt"
        path.write_text(text, encoding="utf-8")
        files.append(SourceFile(path, path.name))
    return files


def test_model_load_overlaps_parsing_and_a_bad_file_fails_alone(settings, minilm_path, tmp_path) -> None:  # type: ignore[no-untyped-def]
    files = write_corpus(tmp_path / "corpus", 8)
    bad = tmp_path / "corpus" / "zepsuty.pdf"
    bad.write_bytes(b"%PDF-1.7\n1 0 obj << /Type /Catalog >>\ngarbage")
    files.insert(4, SourceFile(bad, bad.name))  # mid-batch
    embedder = TimedEmbedder(minilm_path, device="cpu")
    library = Library(settings, embedder=embedder)
    recorder = Recorder()
    try:
        report = ingest_files(library, files, workers=1, progress=recorder)
        assert embedder.loaded_at is not None
        # Files began parsing, and were parsed, before the weights were there.
        assert min(recorder.times("parsing")) < embedder.loaded_at
        parsed_early = [t for t in recorder.times("parsed") if t < embedder.loaded_at]
        assert parsed_early, "no file was parsed while the model loaded"
        # Nothing embeds before the model is there.
        assert min(recorder.times("embedding")) >= embedder.loaded_at
        assert report.model_load_s is not None and report.model_load_s > 0

        assert [f.error for f in report.failed] and Path(report.failed[0].path).name == "zepsuty.pdf"
        assert report.failed[0].error.startswith("corrupt PDF")
        assert sorted(report.added) == [f.name for f in files if f.name != "zepsuty.pdf"]
        assert report.parsed == len(files) and report.chunks_embedded == report.chunks_parsed
        for file in files:
            if file.name == "zepsuty.pdf":
                continue
            index = int(file.name[4:6])
            hits = library.search(f"Dokument {index} opisuje temat", k=1, mode="lexical")
            assert hits
    finally:
        library.close()


def test_what_waited_for_the_model_is_committed_a_batch_at_a_time(settings, minilm_path, tmp_path) -> None:  # type: ignore[no-untyped-def]
    """Every file parses before the weights are there (the load waits for the last one); the
    documents that waited are then embedded and stored a batch at a time, not all before any."""
    import threading

    files = write_corpus(tmp_path / "corpus", 150)  # 3 chunks each: over 256 in all
    all_parsed = threading.Event()

    class LoadsAfterTheParse(Embedder):
        def warm_up(self) -> None:
            all_parsed.wait(120)
            super().warm_up()

    class Watch(Recorder):
        def stage(
            self, path: str, stage: Stage, ocr_page: int | None = None, ocr_pages: int | None = None
        ) -> None:
            super().stage(path, stage, ocr_page, ocr_pages)
            if len(self.times("parsed")) == len(files):
                all_parsed.set()

    library = Library(settings, embedder=LoadsAfterTheParse(minilm_path, device="cpu"))
    recorder = Watch()
    try:
        report = ingest_files(library, files, workers=0, progress=recorder)
    finally:
        library.close()
    assert len(report.added) == len(files) and report.chunks_embedded > 256
    # Stored documents before the last ones began to embed: a crash then keeps the first ones.
    assert min(recorder.times("done")) < max(recorder.times("embedding"))


def test_values_read_before_the_load_are_the_loaded_models(minilm_path) -> None:  # type: ignore[no-untyped-def]
    early = Embedder(minilm_path, device="cpu")
    texts = ["Zażółć gęślą jaźń, art. 12 ust. 3 pkt 4 lit. a.", "<think> [INST] x </s>", " ".join(WORDS) * 20]
    read = (early.dimension, early.max_passage_tokens, early.token_counter().count(texts))
    assert early._model is None, "answered from the files, without the weights"
    loaded = Embedder(minilm_path, device="cpu")
    loaded.warm_up()
    assert read == (loaded.dimension, loaded.max_passage_tokens, loaded.token_counter().count(texts))
    early.warm_up()  # checks what it answered against the model: no error


def test_a_layout_the_reader_does_not_know_loads_the_model_first(minilm_path, tmp_path) -> None:  # type: ignore[no-untyped-def]
    assert read_model_files(minilm_path) is not None
    folder = tmp_path / "lower"
    shutil.copytree(minilm_path, folder, ignore=shutil.ignore_patterns("polrag-onnx-*"))
    (folder / "sentence_bert_config.json").write_text('{"max_seq_length": 256, "do_lower_case": true}')
    assert read_model_files(str(folder)) is None  # sentence-transformers adds a lower-casing step
    assert read_model_files(str(tmp_path / "missing")) is None
    assert read_model_files("nobody/not-downloaded-model") is None


def test_a_tokenizer_config_that_changes_the_tokenizer_loads_the_model_first(minilm_path, tmp_path) -> None:  # type: ignore[no-untyped-def]
    # transformers applies do_lower_case=false over tokenizer.json's lower-casing normaliser: the
    # files alone would count tokens otherwise, and the check after the load refused the model.
    import json

    folder = tmp_path / "cased"
    shutil.copytree(minilm_path, folder, ignore=shutil.ignore_patterns("polrag-onnx-*"))
    config = json.loads((folder / "tokenizer_config.json").read_text())
    (folder / "tokenizer_config.json").write_text(json.dumps({**config, "do_lower_case": False}))
    assert read_model_files(str(folder)) is None
    embedder = Embedder(str(folder), device="cpu")
    embedder.warm_up()
    assert embedder.encode_passages(["Zażółć gęślą jaźń"]).shape == (1, 384)


def test_a_model_that_fails_to_load_stops_the_batch(settings, minilm_path, tmp_path) -> None:  # type: ignore[no-untyped-def]
    folder = tmp_path / "broken-model"
    shutil.copytree(minilm_path, folder, ignore=shutil.ignore_patterns("polrag-onnx-*"))
    (folder / "model.safetensors").write_bytes(b"not weights")
    assert read_model_files(str(folder)) is not None  # its small files are fine: parsing starts
    library = Library(settings, embedder=Embedder(str(folder), device="cpu"))
    try:
        with pytest.raises(ModelLoadError, match="broken-model"):
            ingest_files(library, write_corpus(tmp_path / "corpus", 3), collection="nowa", workers=1)
        assert "nowa" not in library.collection_names()
    finally:
        library.close()


def test_ctrl_c_while_the_model_loads_leaves_no_empty_collection(settings, minilm_path, tmp_path) -> None:  # type: ignore[no-untyped-def]
    """The collection is made before the weights load; Ctrl-C meanwhile kept it, empty, as a name."""
    embedder = TimedEmbedder(minilm_path, device="cpu")  # a fresh one: its load takes a while
    library = Library(settings, embedder=embedder)

    def interrupt(report, total) -> None:  # type: ignore[no-untyped-def]
        if report.parsed:  # a file parsed: Ctrl-C lands in the main thread here
            raise KeyboardInterrupt

    try:
        with pytest.raises(KeyboardInterrupt):
            ingest_files(
                library,
                write_corpus(tmp_path / "corpus", 3),
                collection="nowa",
                workers=0,
                on_progress=interrupt,
            )
        assert "nowa" not in library.collection_names()
    finally:
        embedder.warm_up()  # the load thread ends before the test does (not at interpreter exit)
        library.close()


def test_cli_progress_shows_parsing_and_embedding(settings, tmp_path) -> None:  # type: ignore[no-untyped-def]
    write_corpus(tmp_path / "corpus", 5)
    (tmp_path / "corpus" / "zepsuty.pdf").write_bytes(b"%PDF-1.7\ngarbage")
    primary, secondary = pty.openpty()  # a terminal: the bars show only there
    process = subprocess.Popen(
        [sys.executable, "-c", "from api.cli import main; main()", "ingest", str(tmp_path / "corpus")],
        stdout=subprocess.PIPE,
        stderr=secondary,
        env={**os.environ, "COLUMNS": "160"},
    )
    os.close(secondary)
    screen = b""
    while True:
        try:
            data = os.read(primary, 65536)
        except OSError:  # the terminal closed with the process
            break
        if not data:
            break
        screen += data
    out, _ = process.communicate(timeout=300)
    os.close(primary)
    text = re.sub(r"\x1b\[[0-9;?]*[A-Za-z]", "", screen.decode("utf-8", "replace"))
    summary = out.decode()
    chunks = int(re.search(r"; (\d+) chunks from", summary).group(1))  # type: ignore[union-attr]
    assert process.returncode == 1, summary  # one file failed, the rest is stored
    assert re.search(r"parsed\s.*\b6/6 files", text), text[-2000:]
    assert re.search(rf"embedded\s.*\b{chunks}/{chunks} chunks", text), text[-2000:]


@pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="reads /proc")
def test_ctrl_c_while_the_parsers_start_is_one_line(settings, tmp_path) -> None:  # type: ignore[no-untyped-def]
    """Early in a batch (the model still loading) Ctrl-C met parser processes still importing."""
    import signal

    from tests.test_durability import children_of, make_corpus

    corpus = tmp_path / "corpus"
    make_corpus(corpus, 30)
    process = subprocess.Popen(
        [sys.executable, "-c", "from api.cli import main; main()", "ingest", str(corpus), "--workers", "2"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        start_new_session=True,  # its own process group, as a terminal's Ctrl-C reaches it
    )
    deadline = time.monotonic() + 120
    while len(children_of(process.pid)) < 3 and time.monotonic() < deadline:  # tracker + 2 parsers
        assert process.poll() is None
        time.sleep(0.01)
    os.killpg(process.pid, signal.SIGINT)  # what Ctrl-C in a terminal does
    _, err = process.communicate(timeout=120)
    assert process.returncode == 130, err.decode()[-3000:]
    assert err.decode().strip().startswith("interrupted") and "Traceback" not in err.decode(), err.decode()
