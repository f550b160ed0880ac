"""The ONNX Runtime / OpenVINO embedder path with the real MiniLM: export, int8 gate, choice.

The quality gate as a test: the int8 graph is used only when its vectors stay within 0.01
cosine of float32 torch, and retrieval on the own eval set ranks as float32 does.
bench/embed_quality.py gives the recall figures on PoQuAD and the whole own set.
"""

from __future__ import annotations

import json
import multiprocessing
import re
import shutil
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("onnxruntime")

EVAL = Path(__file__).parents[1] / "data" / "eval"


def squash(text: str) -> str:
    return re.sub(r"\s+", "", text).casefold()


def eval_texts() -> tuple[list[str], list[str], list[set[int]]]:
    """Paragraphs of the own set's text documents, the questions on them, and for each question
    the paragraphs that hold its answer (those with none are left out)."""
    passages, owner = [], []
    for path in sorted(EVAL.glob("*.txt")):
        for paragraph in path.read_text("utf-8").split("\n\n"):
            if len(paragraph.strip()) > 80:
                passages.append(paragraph.strip())
                owner.append(path.name)
    questions, relevant = [], []
    for line in (EVAL / "qa.jsonl").read_text("utf-8").splitlines():
        item = json.loads(line)
        answer = squash(item.get("answer") or "")
        hits = {
            i for i, text in enumerate(passages) if owner[i] == item["document"] and answer in squash(text)
        }
        if answer and hits:
            questions.append(item["question"])
            relevant.append(hits)
    return passages, questions, relevant


def recall_at(k: int, queries: np.ndarray, passages: np.ndarray, relevant: list[set[int]]) -> float:
    ranked = np.argsort(-(queries @ passages.T), axis=1)[:, :k]
    return float(
        np.mean([bool(set(row.tolist()) & want) for row, want in zip(ranked, relevant, strict=True)])
    )


@pytest.fixture(scope="module")
def float32_embedder(minilm_path: str):  # type: ignore[no-untyped-def]
    from rag.embeddings import Embedder

    model = Embedder(minilm_path, device="cpu", dtype="float32", runtime="torch")
    model.warm_up()
    return model


@pytest.fixture()
def model_copy(minilm_path: str, tmp_path: Path) -> str:
    """A private copy of MiniLM, so the export cache beside it starts empty."""
    skip = shutil.ignore_patterns("polrag-onnx-*", ".export-*")  # exports other runs left there
    return str(shutil.copytree(minilm_path, tmp_path / "minilm", ignore=skip))


@pytest.mark.parametrize("runtime", ["onnx", "openvino"])
def test_exported_runtime_keeps_float32_quality(
    runtime: str, minilm_path: str, float32_embedder, tmp_path: Path
):  # type: ignore[no-untyped-def]
    pytest.importorskip("openvino" if runtime == "openvino" else "onnxruntime")
    from rag.embeddings import Embedder

    model = Embedder(minilm_path, device="cpu", runtime=runtime, cache_root=tmp_path)
    model.warm_up()
    assert model.runtime == runtime
    # The exported graph runs the transformer: its torch weights are not kept (they doubled the
    # model's memory), and the vectors below come without them.
    assert all(p.device.type == "meta" for p in model.model[0].auto_model.parameters())
    if runtime == "onnx":
        assert model.dtype == "int8", "MiniLM passes the int8 gate (mean cosine >= 0.99)"
    passages, questions, relevant = eval_texts()
    assert len(questions) >= 20
    got_p, want_p = model.encode_passages(passages), float32_embedder.encode_passages(passages)
    got_q, want_q = model.encode_queries(questions), float32_embedder.encode_queries(questions)
    assert got_p.dtype == np.float32 and got_p.shape == want_p.shape
    cosines = np.concatenate([np.sum(got_p * want_p, axis=1), np.sum(got_q * want_q, axis=1)])
    assert cosines.mean() >= 0.99 and cosines.min() >= 0.95, (cosines.mean(), cosines.min())
    # Dense recall on the labelled questions: within 0.01 of float32, or one question on a set
    # this small (bench/embed_quality.py holds the 0.01 on PoQuAD and the whole own set).
    allowed = max(0.01, 1 / len(questions)) + 1e-9
    for k in (1, 5, 10):
        got, want = recall_at(k, got_q, got_p, relevant), recall_at(k, want_q, want_p, relevant)
        assert want - got <= allowed, (k, got, want)


def test_gate_refuses_int8_that_drifts(model_copy: str, float32_embedder, monkeypatch: pytest.MonkeyPatch):  # type: ignore[no-untyped-def]
    """A gate MiniLM's int8 cannot meet: the float32 graph runs instead, exact to float32 torch."""
    from rag import embedder_export
    from rag.embeddings import Embedder

    monkeypatch.setattr(embedder_export, "MIN_MEAN_COSINE", 0.99999)
    model = Embedder(model_copy, device="cpu", runtime="onnx")
    model.warm_up()
    assert model.dtype == "float32"
    (folder,) = Path(model_copy).glob("polrag-onnx-*")
    gate = json.loads((folder / "gate.json").read_text())
    assert gate["int8_passed"] is False and gate["ffn_output_float"] is True  # both tries failed
    assert not (folder / "model_int8.onnx").exists()
    passages, _, _ = eval_texts()
    cosines = np.sum(model.encode_passages(passages) * float32_embedder.encode_passages(passages), axis=1)
    assert cosines.min() >= 0.9999


def _export_in_process(model: str, out: str) -> None:
    from rag.embeddings import Embedder

    embedder = Embedder(model, device="cpu", runtime="onnx")
    embedder.warm_up()
    vector = embedder.encode_passages(["Ustawa o ochronie danych osobowych."])
    Path(out).write_text(json.dumps({"dtype": embedder.dtype, "vector": vector[0].tolist()}))


def test_concurrent_processes_export_once_and_agree(model_copy: str, tmp_path: Path) -> None:
    context = multiprocessing.get_context("spawn")
    outs = [tmp_path / f"out{n}.json" for n in range(2)]
    workers = [context.Process(target=_export_in_process, args=(model_copy, str(o))) for o in outs]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(300)
        assert worker.exitcode == 0
    results = [json.loads(o.read_text()) for o in outs]
    assert results[0]["dtype"] == results[1]["dtype"] == "int8"
    assert np.allclose(results[0]["vector"], results[1]["vector"], atol=1e-6)
    assert len(list(Path(model_copy).glob("polrag-onnx-*"))) == 1  # one export, no leftovers
    assert not list(Path(model_copy).glob(".export-*"))


def test_read_only_model_folder_exports_under_the_cache_root(
    model_copy: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from rag import embedder_export

    assert embedder_export.cache_folder(model_copy, tmp_path).parent == Path(model_copy)
    # Root may write anywhere, so the read-only folder is what os.access answers for it.
    monkeypatch.setattr(embedder_export.os, "access", lambda path, mode: Path(path) != Path(model_copy))
    target = embedder_export.cache_folder(model_copy, tmp_path / "root")
    assert target.parent == tmp_path / "root" / ".embedder-cache"
    assert target.name.startswith("minilm-")


def test_auto_keeps_torch_on_cuda_and_amx(monkeypatch: pytest.MonkeyPatch) -> None:
    from rag import embedder_runtime

    assert embedder_runtime.fixed_choice("auto", "cuda") == "torch"
    features = {"avx2": True, "avx512": True, "avx512_bf16": True, "amx": True, "isa_cap": False}
    monkeypatch.setattr(embedder_runtime, "cpu_features", lambda: features)
    assert embedder_runtime.fixed_choice("auto", "cpu") == "torch"
    monkeypatch.setattr(embedder_runtime, "cpu_features", lambda: {**features, "amx": False})
    assert embedder_runtime.fixed_choice("auto", "cpu") is None  # probe
    assert embedder_runtime.fixed_choice("onnx", "cpu") == "onnx"


def test_missing_runtime_package_is_one_clear_error(monkeypatch: pytest.MonkeyPatch) -> None:
    from rag import embedder_runtime
    from rag.errors import ConfigError

    monkeypatch.setattr(embedder_runtime, "available", lambda runtime: runtime == "torch")
    with pytest.raises(ConfigError, match=r"POLRAG_EMBEDDING_RUNTIME=openvino needs the openvino package"):
        embedder_runtime.fixed_choice("openvino", "cpu")
    assert embedder_runtime.fixed_choice("auto", "cpu") == "torch"


def test_isa_cap_hides_avx512_and_bf16(monkeypatch: pytest.MonkeyPatch) -> None:
    from rag import device

    device.cpu_features.cache_clear()
    monkeypatch.setenv("ONEDNN_MAX_CPU_ISA", "AVX2")
    try:
        features = device.cpu_features()
        assert not features["avx512"] and not features["avx512_bf16"] and not features["amx"]
        assert features["isa_cap"]
        assert device.resolve_dtype("auto", "cpu") == "float32"
    finally:
        device.cpu_features.cache_clear()


def _op_types(graph_file: Path) -> set[str]:
    import onnx

    return {node.op_type for node in onnx.load(str(graph_file), load_external_data=False).graph.node}


def test_export_fuses_attention_into_onnx_runtime_kernels(model_copy: str, float32_embedder) -> None:  # type: ignore[no-untyped-def]
    """The exported graph runs ONNX Runtime's fused transformer kernels (one Attention per layer,
    QAttention once quantised), and the fused float32 graph gives torch's vectors."""
    from rag.embedder_export import pooled_vectors
    from rag.embedder_runtime import OnnxForward
    from rag.embeddings import Embedder

    model = Embedder(model_copy, device="cpu", runtime="onnx")
    model.warm_up()
    (folder,) = Path(model_copy).glob("polrag-onnx-*")
    assert json.loads((folder / "gate.json").read_text())["fused"] is True
    fp32_ops, int8_ops = _op_types(folder / "model.onnx"), _op_types(folder / "model_int8.onnx")
    assert {"Attention", "SkipLayerNormalization"} <= fp32_ops and "Softmax" not in fp32_ops
    assert "QAttention" in int8_ops
    passages, _, _ = eval_texts()
    fused = pooled_vectors(float32_embedder.model, OnnxForward(folder / "model.onnx", threads=None), passages)
    assert np.sum(fused * float32_embedder.encode_passages(passages), axis=1).min() >= 0.9999


def test_fused_graph_that_drifts_from_torch_is_not_used(
    model_copy: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    from rag import embedder_export
    from rag.embeddings import Embedder

    monkeypatch.setattr(embedder_export, "MIN_FUSED_COSINE", 1.01)  # no graph can meet it
    Embedder(model_copy, device="cpu", runtime="onnx").warm_up()
    (folder,) = Path(model_copy).glob("polrag-onnx-*")
    assert json.loads((folder / "gate.json").read_text())["fused"] is False
    ops = _op_types(folder / "model.onnx")
    assert "Attention" not in ops and "Softmax" in ops
    assert sorted(p.name for p in folder.iterdir()) == ["gate.json", "model.onnx", "model_int8.onnx"]


@pytest.mark.parametrize("fault", ["cannot load", "NaN vectors"])
def test_fused_graph_that_does_not_run_is_not_used(
    fault: str, model_copy: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A fused graph that ONNX Runtime cannot open (a kernel missing from this build) or that
    gives NaN (which no cosine comparison rejects) costs the fusion, not the export: the plain
    graph is exported as before."""
    from rag import embedder_export, embedder_runtime
    from rag.embeddings import Embedder

    real = embedder_runtime.OnnxForward

    def faulty_fused(path: Path, threads: int | None):  # type: ignore[no-untyped-def]
        forward = real(path, threads)
        if path.name != embedder_export.FUSED_FILE:
            return forward
        if fault == "cannot load":
            raise RuntimeError("NOT_IMPLEMENTED : Could not find an implementation for Attention(1)")
        return lambda features: np.full_like(forward(features), np.nan)

    monkeypatch.setattr(embedder_runtime, "OnnxForward", faulty_fused)
    model = Embedder(model_copy, device="cpu", runtime="onnx")
    model.warm_up()
    (folder,) = Path(model_copy).glob("polrag-onnx-*")
    assert json.loads((folder / "gate.json").read_text())["fused"] is False
    assert "Attention" not in _op_types(folder / "model.onnx")
    assert sorted(p.name for p in folder.iterdir()) == ["gate.json", "model.onnx", "model_int8.onnx"]
    assert model.encode_passages(["Art. 1. Ustawa określa zasady."]).shape == (1, 384)


def test_xlm_roberta_encoder_is_fused_and_exact(minilm_path: str, tmp_path: Path) -> None:
    """An XLM-R encoder (the family of the Polish embedders: mmlw-retrieval-roberta, e5) is fused
    too, with RoBERTa's position ids intact: the fused graph gives torch's vectors, padding included."""
    import torch
    from sentence_transformers import SentenceTransformer, models
    from transformers import AutoTokenizer, XLMRobertaConfig, XLMRobertaModel

    from rag.embedder_export import pooled_vectors
    from rag.embedder_runtime import OnnxForward
    from rag.embeddings import Embedder

    # As XLM-R's own tokenizer: no token_type_ids, so RoBERTa's position ids come from the mask.
    tokenizer = AutoTokenizer.from_pretrained(minilm_path, model_input_names=["input_ids", "attention_mask"])
    torch.manual_seed(0)
    config = XLMRobertaConfig(
        vocab_size=tokenizer.vocab_size,
        hidden_size=64,
        num_hidden_layers=2,
        num_attention_heads=4,
        intermediate_size=128,
        max_position_embeddings=514,
        pad_token_id=tokenizer.pad_token_id,
        type_vocab_size=1,
    )
    XLMRobertaModel(config).save_pretrained(tmp_path / "hf")
    tokenizer.save_pretrained(tmp_path / "hf")
    transformer = models.Transformer(str(tmp_path / "hf"), max_seq_length=256)
    SentenceTransformer(modules=[transformer, models.Pooling(64, "mean")]).save(str(tmp_path / "st"))

    Embedder(str(tmp_path / "st"), device="cpu", runtime="onnx").warm_up()
    (folder,) = (tmp_path / "st").glob("polrag-onnx-*")
    assert json.loads((folder / "gate.json").read_text())["fused"] is True
    assert "Attention" in _op_types(folder / "model.onnx")
    assert OnnxForward(folder / "model.onnx", threads=None).inputs == ["input_ids", "attention_mask"]
    reference = Embedder(str(tmp_path / "st"), device="cpu", runtime="torch", dtype="float32")
    texts = ["Ustawa o ochronie danych osobowych.", "Krótko.", "Art. 5. Przepisy ogólne. " * 30]
    fused = pooled_vectors(reference.model, OnnxForward(folder / "model.onnx", threads=None), texts)
    assert np.sum(fused * reference.encode_passages(texts), axis=1).min() >= 0.9999


def test_default_runtime_is_auto_and_runs_what_it_timed_fastest(  # type: ignore[no-untyped-def]
    model_copy: str, float32_embedder, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
):
    """Unset, the runtime is auto: torch where bf16 tiles (AMX) make it fastest, elsewhere the
    fastest of the runtimes timed once on this CPU, remembered beside the export."""
    from rag.device import cpu_features
    from rag.embeddings import Embedder
    from rag.settings import load_settings

    monkeypatch.delenv("POLRAG_EMBEDDING_RUNTIME", raising=False)  # the suite pins torch
    settings = load_settings(index_dir=str(tmp_path / "index"), embedding_model=model_copy, device="cpu")
    assert settings.embedding_runtime == "auto"
    model = Embedder.from_settings(settings)
    model.warm_up()
    exports = list(Path(model_copy).glob("polrag-onnx-*"))
    if cpu_features()["amx"]:
        assert model.runtime == "torch" and not exports
        return
    (folder,) = exports
    (timed,) = folder.glob("runtime-*.json")
    record = json.loads(timed.read_text())
    assert model.runtime == record["runtime"] == min(record["seconds"], key=record["seconds"].get)
    assert set(record["seconds"]) >= {"torch", "onnx"}
    passages, _, _ = eval_texts()
    cosines = np.sum(model.encode_passages(passages) * float32_embedder.encode_passages(passages), axis=1)
    assert cosines.mean() >= 0.99


def test_auto_passes_over_a_runtime_that_cannot_run_the_graph(  # type: ignore[no-untyped-def]
    model_copy: str, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
):
    """An OpenVINO too old for the fused graph's operators is left out of the timing with a
    warning; the embedder still loads on what can run it."""
    from rag import embedder_runtime, embeddings
    from rag.embeddings import Embedder

    def refuse(*args, **kwargs):  # type: ignore[no-untyped-def]
        raise RuntimeError("OpConversionFailure: com.microsoft.Attention is not supported")

    monkeypatch.setattr(embedder_runtime, "OpenVinoForward", refuse)
    monkeypatch.setattr(embedder_runtime, "available", lambda runtime: True)  # openvino or not
    monkeypatch.setattr(embeddings, "fixed_choice", lambda setting, device: None)  # probe even on AMX
    model = Embedder(model_copy, device="cpu", runtime="auto")
    with caplog.at_level("WARNING", logger="rag.embeddings"):
        model.warm_up()
    assert model.runtime in ("torch", "onnx")
    assert "embedding runtime openvino cannot run" in caplog.text
    (folder,) = Path(model_copy).glob("polrag-onnx-*")
    (timed,) = folder.glob("runtime-*.json")
    assert set(json.loads(timed.read_text())["seconds"]) == {"torch", "onnx"}
    assert model.encode_passages(["Art. 1. Ustawa określa zasady."]).shape == (1, 384)


def test_a_new_revision_of_a_hub_model_gets_its_own_export(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A hub model's export is keyed by the snapshot it was loaded from: after the model is
    updated on the hub, the next start exports the new weights instead of running the old graph."""
    import huggingface_hub

    from rag import embedder_export

    snapshots = {}
    for revision, weights in (("a1", b"old weights"), ("b2", b"new weights, longer")):
        snapshots[revision] = tmp_path / "hub" / "snapshots" / revision
        snapshots[revision].mkdir(parents=True)
        (snapshots[revision] / "model.safetensors").write_bytes(weights)
    current = {"revision": "a1"}

    def snapshot_download(name: str, local_files_only: bool = False) -> str:
        assert local_files_only, "the export key must never reach the network"
        if current["revision"] is None:
            raise huggingface_hub.errors.LocalEntryNotFoundError("not in the cache")
        return str(snapshots[current["revision"]])

    monkeypatch.setattr(huggingface_hub, "snapshot_download", snapshot_download)
    root = tmp_path / "index"
    old = embedder_export.cache_folder("sdadas/mmlw-retrieval-roberta-large", root)
    assert old.parent == root / ".embedder-cache" and old.name.startswith("sdadas--mmlw-retrieval")
    assert embedder_export.cache_folder("sdadas/mmlw-retrieval-roberta-large", root) == old
    current["revision"] = "b2"
    assert embedder_export.cache_folder("sdadas/mmlw-retrieval-roberta-large", root) != old
    current["revision"] = None  # not downloaded: the name alone keys it, and nothing fails
    assert embedder_export.cache_folder("sdadas/mmlw-retrieval-roberta-large", root).parent == old.parent


def test_a_named_runtime_that_cannot_run_the_graph_is_one_clear_error(
    model_copy: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    from rag import embedder_runtime
    from rag.embeddings import Embedder
    from rag.errors import ModelLoadError

    def refuse(*args, **kwargs):  # type: ignore[no-untyped-def]
        raise RuntimeError("OpConversionFailure: com.microsoft.Attention is not supported\n  at line 1")

    monkeypatch.setattr(embedder_runtime, "OpenVinoForward", refuse)
    with pytest.raises(ModelLoadError) as caught:
        Embedder(model_copy, device="cpu", runtime="openvino").warm_up()
    message = str(caught.value)
    assert message.startswith("POLRAG_EMBEDDING_RUNTIME=openvino cannot run ")
    assert "com.microsoft.Attention is not supported" in message and "\n" not in message
