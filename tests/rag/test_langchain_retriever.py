"""The LangChain retriever runs inside an LCEL chain and keeps polrag's citation metadata."""

from __future__ import annotations

from langchain_core.documents import Document
from langchain_core.language_models.fake import FakeListLLM
from langchain_core.output_parsers import StrOutputParser
from langchain_core.prompts import PromptTemplate
from langchain_core.runnables import RunnableLambda, RunnablePassthrough

from ingest.pipeline import ingest_paths
from rag.langchain_retriever import PolragRetriever


def test_retriever_in_an_lcel_chain(library, real_pdfs, tmp_path) -> None:  # type: ignore[no-untyped-def]
    note = tmp_path / "zolw.txt"
    note.write_text("Żółw błotny zimuje w mule na dnie stawów. Jest gatunkiem chronionym.", encoding="utf-8")
    ingest_paths(library, [note, *real_pdfs], workers=0)
    retriever = PolragRetriever(library=library, k=2)

    docs = retriever.invoke("gdzie zimuje żółw błotny")
    assert docs and isinstance(docs[0], Document)
    assert docs[0].metadata["document"] == "zolw.txt"
    assert set(docs[0].metadata) >= {"document", "document_id", "page", "chunk_id", "score"}

    seen_prompts: list[str] = []

    def format_docs(documents: list[Document]) -> str:
        return "\n".join(
            f"[{d.metadata['document']}, s. {d.metadata['page']}] {d.page_content}" for d in documents
        )

    def remember(prompt):  # type: ignore[no-untyped-def]
        seen_prompts.append(prompt.to_string())
        return prompt

    prompt = PromptTemplate.from_template("Fragmenty:\n{context}\n\nPytanie: {question}")
    chain = (
        {"context": retriever | RunnableLambda(format_docs), "question": RunnablePassthrough()}
        | prompt
        | RunnableLambda(remember)
        | FakeListLLM(responses=["Zimuje w mule [zolw.txt]."])
        | StrOutputParser()
    )
    assert chain.invoke("gdzie zimuje żółw błotny") == "Zimuje w mule [zolw.txt]."
    assert "[zolw.txt, s. None] Żółw błotny zimuje w mule" in seen_prompts[0]
    assert "Pytanie: gdzie zimuje żółw błotny" in seen_prompts[0]

    only_pdfs = PolragRetriever(
        library=library,
        k=3,
        mode="lexical",
        document_ids=[d.id for d in library.collection().documents() if d.file_name.endswith(".pdf")],
    )
    assert all(d.metadata["document"].endswith(".pdf") for d in only_pdfs.invoke("podatek dochodowy"))
