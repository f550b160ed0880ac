"""The web page in a real browser: upload, ask, check a citation on its page, delete, keys, no model."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.web.conftest import (
    ODPADY,
    PODATEK,
    QUESTION,
    REPLY,
    Watched,
    app_server,
    expect,
    scripted_settings,
    web_settings,
)

HOSTILE_NAME = "<img src=x onerror=alert(1)>.txt"
HOSTILE_TEXT = (
    "<script>window.pwned = 1; alert('xss')</script>\n"
    "Odpady medyczne o właściwościach zakaźnych unieszkodliwia się przez termiczne przekształcanie "
    "w spalarni odpadów niebezpiecznych. Drobnoustroje chorobotwórcze czynią odpady zakaźnymi."
)
NO_ANSWER = "Nie znalazłem w dokumentach informacji na ten temat."


def documents_region(page: Any) -> Any:
    return page.get_by_role("region", name="Dokumenty")


def answer_region(page: Any) -> Any:
    return page.get_by_role("region", name="Odpowiedź")


def upload(page: Any, *files: Path | dict[str, Any]) -> None:
    """Choose files in "Dodaj dokumenty" and wait until each one's row says it is stored."""
    before = page.locator("#uploads li.done").count()
    page.get_by_label("Dodaj dokumenty").set_input_files(
        [str(f) if isinstance(f, Path) else f for f in files]
    )
    page.wait_for_function(
        "n => document.querySelectorAll('#uploads li.done, #uploads li.failed').length >= n",
        arg=before + len(files),
        timeout=120_000,
    )


def ask(page: Any, question: str) -> Any:
    """Ask; wait for the answer to finish; the turn's element."""
    turns = page.locator("#conversation article.turn").count()
    page.get_by_role("textbox", name="Pytanie").fill(question)
    page.get_by_role("button", name="Zapytaj").click()
    page.wait_for_function(
        "n => document.querySelectorAll('#conversation article.turn').length > n"
        " && document.getElementById('conversation').getAttribute('aria-busy') === 'false'",
        arg=turns,
        timeout=60_000,
    )
    return page.locator("#conversation article.turn").last


def record_upload_statuses(page: Any) -> None:
    """From now on, every status an upload row shows, as it changes, into ``window.statuses``."""
    page.evaluate(
        """() => { window.statuses = [];
            new MutationObserver(() => document.querySelectorAll('#uploads .upload-status')
                .forEach(s => window.statuses.push(s.textContent)))
            .observe(document.getElementById('uploads'),
                     {subtree: true, childList: true, characterData: true});
        }"""
    )


def cut_answers_before_done(page: Any, tail: str = "") -> None:
    """From now on, every /v1/ask stream of the real server reaches the page cut in transit
    before its `done` event, with ``tail`` in its place."""

    def cut(route: Any) -> None:
        response = route.fetch()
        body = response.text()
        headers = {k: v for k, v in response.headers.items() if k.lower() != "content-length"}
        route.fulfill(status=response.status, headers=headers, body=body[: body.index("event: done")] + tail)

    page.route(lambda url: url.endswith("/v1/ask"), cut)


def source_panel(page: Any) -> Any:
    return page.get_by_role("complementary", name="Źródło")


def page_image_shown(page: Any) -> int:
    page.wait_for_function(
        "() => { const i = document.getElementById('page-image');"
        " return !i.closest('[hidden]') && i.complete && i.naturalWidth > 0; }",
        timeout=30_000,
    )
    return int(page.eval_on_selector("#page-image", "i => i.naturalWidth"))


def test_upload_two_files_ask_and_check_a_citation_on_its_page(
    open_page: Callable[[str], Watched], server: str, scripted_llm: Any
) -> None:
    watched = open_page(server)
    page = watched.page
    upload(page, ODPADY, PODATEK)
    uploads = page.locator("#uploads li")
    assert uploads.count() == 2
    for item in uploads.all():
        assert item.locator("progress").get_attribute("value") == "100"
        assert item.locator(".upload-status").inner_text().startswith("Dodano")
    rows = documents_region(page).locator("tbody tr")
    rows.nth(1).wait_for()
    listed = {
        row.locator("td").nth(0).inner_text(): row.locator("td").nth(1).inner_text() for row in rows.all()
    }
    assert listed == {ODPADY.name: "3", PODATEK.name: "1"}
    assert set(documents_region(page).locator("tbody td:nth-child(5)").all_inner_texts()) <= {"tekst", "—"}
    watched.shot("1-documents")

    page.get_by_role("textbox", name="Pytanie").fill(QUESTION)
    page.get_by_role("button", name="Zapytaj").click()
    # The answer grows while the model writes: caught mid-way, then whole.
    partial = page.wait_for_function(
        "() => { const r = document.getElementById('conversation');"
        " const t = r.querySelector('.answer-text')?.textContent || '';"
        " return r.getAttribute('aria-busy') === 'true' && t.startsWith('Odpady') ? t : false; }",
        timeout=60_000,
    ).json_value()
    watched.shot("2-streaming")
    page.wait_for_function(
        "() => document.getElementById('conversation').getAttribute('aria-busy') === 'false'"
    )
    turn = answer_region(page).locator("article.turn").last
    final = turn.locator(".answer-text").inner_text()
    assert final == REPLY
    assert REPLY.startswith(partial) and len(partial) < len(REPLY)
    links = turn.locator(".answer-text").get_by_role("link")
    assert links.all_inner_texts() == ["[1]", "[2]"]
    # Only the cited passages are listed, though the model saw more.
    assert turn.locator(".source-list li").count() == 2
    assert "[3]" in " ".join(m["content"] for m in scripted_llm.requests[-1]["messages"])

    turn.get_by_role("button", name="Kopiuj odpowiedź ze źródłami").click()
    copied = page.evaluate("navigator.clipboard.readText()")
    assert copied.startswith(f"Pytanie: {QUESTION}\n\n{REPLY}\n\nŹródła:\n[1] ")

    # By keyboard: Enter on the marker opens the panel, Escape closes it and returns to the marker.
    links.first.focus()
    page.keyboard.press("Enter")
    panel = source_panel(page)
    panel.wait_for()
    cited = page.evaluate("() => document.getElementById('source-passage').textContent")
    assert cited.strip() and panel.locator("#source-document").inner_text() in {ODPADY.name, PODATEK.name}
    assert page_image_shown(page) >= 200
    assert panel.locator("#page-label").inner_text().startswith("Strona ")
    watched.shot("3-answer-with-source")
    page.keyboard.press("Escape")
    assert not panel.is_visible()
    assert links.first.evaluate("link => link === document.activeElement")

    # A follow-up carries the conversation to the model.
    ask(page, "A kto to określa?")
    sent = scripted_llm.requests[-1]["messages"]
    assert any(m["role"] == "user" and QUESTION in m["content"] for m in sent[:-1])
    assert any(m["role"] == "assistant" and "drobnoustroje" in m["content"] for m in sent)
    assert watched.errors == [] and watched.dialogs == []


def test_delete_asks_first_and_removes_the_document(open_page: Callable[[str], Watched], server: str) -> None:
    watched = open_page(server)
    page = watched.page
    upload(page, ODPADY, PODATEK)
    rows = documents_region(page).locator("tbody tr")
    rows.nth(1).wait_for()
    page.get_by_role("button", name=f"Usuń {PODATEK.name}").click()
    dialog = page.get_by_role("dialog", name="Usunąć dokument?")
    assert PODATEK.name in dialog.inner_text()
    watched.shot("confirm-delete")
    dialog.get_by_role("button", name="Anuluj").click()
    assert rows.count() == 2
    page.get_by_role("button", name=f"Usuń {PODATEK.name}").click()
    dialog.get_by_role("button", name="Usuń").click()
    page.wait_for_function("() => document.querySelectorAll('#document-rows tr').length === 1")
    assert rows.first.locator("td").first.inner_text() == ODPADY.name
    stored = httpx.get(f"{server}/v1/documents").json()["documents"]
    assert [d["file_name"] for d in stored] == [ODPADY.name]
    # A file polrag cannot read fails on its row, in Polish, and changes nothing.
    upload(
        page, {"name": "program.exe", "mimeType": "application/octet-stream", "buffer": b"MZ\x90\x00" * 64}
    )
    failed = page.locator("#uploads li.failed")
    assert failed.locator(".upload-status").inner_text() == "Błąd: nieobsługiwany format pliku"
    assert rows.count() == 1
    watched.shot("refused-file")
    assert watched.dialogs == []
    assert all("415" in error for error in watched.errors), watched.errors


def test_a_new_collection_keeps_its_own_documents(open_page: Callable[[str], Watched], server: str) -> None:
    watched = open_page(server)
    page = watched.page
    upload(page, PODATEK)
    page.get_by_label("Nazwa nowej kolekcji").fill("umowy")
    page.get_by_role("button", name="Utwórz").click()
    expect(page.get_by_label("Kolekcja")).to_have_value("umowy")
    page.locator("#documents-empty").wait_for()
    upload(page, ODPADY)
    documents_region(page).locator("tbody tr").first.wait_for()
    page.get_by_label("Kolekcja").select_option("default")
    page.wait_for_function(
        "() => document.querySelector('#document-rows td')?.textContent === 'DU_2020_poz12.pdf'"
    )
    stored = httpx.get(f"{server}/v1/documents", params={"collection": "umowy"}).json()["documents"]
    assert [d["file_name"] for d in stored] == [ODPADY.name]
    page.get_by_label("Nazwa nowej kolekcji").fill("zła nazwa!")
    page.get_by_role("button", name="Utwórz").click()
    assert page.get_by_label("Kolekcja").input_value() == "default"
    assert watched.errors == []


@pytest.fixture()
def tiny_server(
    tmp_path: Path, minilm_path: str, embedder: Any, tiny_llm_path: str, tiny_generator: Any
) -> Iterator[str]:
    """Answers from the tiny Bielik-shaped model through the transformers backend."""
    settings = web_settings(tmp_path, minilm_path, llm_model=tiny_llm_path, llm_max_new_tokens=8)
    with app_server(settings, embedder, tiny_generator) as base:
        yield base


def test_not_found_answer_looks_like_an_answer_and_the_tiny_model_answers(
    open_page: Callable[[str], Watched], tiny_server: str
) -> None:
    watched = open_page(tiny_server)
    page = watched.page
    # Every control on the way is reached with Tab, under its Polish name.
    page.locator("#documents-empty").wait_for()
    reached = []
    for _ in range(10):
        page.keyboard.press("Tab")
        reached.append(
            page.evaluate(
                "() => { const a = document.activeElement; return a.getAttribute('aria-label')"
                " || a.labels?.[0]?.textContent || a.textContent.trim(); }"
            )
        )
    assert [n for n in reached if n in ("Dodaj dokumenty", "Pytanie", "Zapytaj")] == [
        "Dodaj dokumenty",
        "Pytanie",
        "Zapytaj",
    ]
    turn = ask(page, "Ile kosztuje bilet do kina?")
    assert turn.locator(".answer-text").inner_text() == NO_ANSWER
    assert turn.locator(".error, .notice").count() == 0
    # A real (tiny, random) model's answer streams in the same way.
    upload(page, PODATEK)
    turn = ask(page, "Kiedy zaniechano poboru podatku dochodowego?")
    assert turn.locator(".answer-text").inner_text().strip() not in ("", NO_ANSWER)
    assert turn.locator(".error, .notice").count() == 0
    watched.shot("tiny-model-answer")
    assert watched.errors == []


def test_hostile_file_name_and_text_show_as_text_and_run_nothing(
    open_page: Callable[[str], Watched], server: str
) -> None:
    watched = open_page(server)
    page = watched.page
    # Dropped on the drop zone, as a user drags it from the desktop.
    page.evaluate(
        """([name, text]) => {
            const data = new DataTransfer();
            data.items.add(new File([text], name, {type: "text/plain"}));
            document.getElementById("drop-zone").dispatchEvent(
                new DragEvent("drop", {dataTransfer: data, bubbles: true, cancelable: true}));
        }""",
        [HOSTILE_NAME, HOSTILE_TEXT],
    )
    page.wait_for_selector("#uploads li.done", timeout=120_000)
    cell = documents_region(page).locator("tbody tr td").first
    cell.wait_for()
    # The upload list shows the name as the browser has it; the table, as the server stored it.
    assert page.locator("#uploads li .upload-name").inner_text() == HOSTILE_NAME
    stored = httpx.get(f"{server}/v1/documents").json()["documents"][0]["file_name"]
    assert cell.inner_text() == stored and "onerror=alert(1)" in stored
    assert page.locator("main img, #uploads img").count() == 0

    turn = ask(page, "Jak unieszkodliwia się odpady zakaźne?")
    turn.get_by_role("link").first.click()
    panel = source_panel(page)
    panel.wait_for()
    assert "<script>" in panel.locator("#source-passage").inner_text()
    assert panel.locator("#source-document").inner_text() == stored
    # TXT has no page images: the text view, with the passage marked, shows the markup as text.
    page.wait_for_selector("#source-text:not([hidden]) mark")
    assert "<script>" in panel.locator("#source-text").inner_text()
    assert panel.locator("script, img[src='x']").count() == 0
    watched.shot("hostile-text")
    assert page.evaluate("() => window.pwned") is None
    assert watched.dialogs == []
    assert watched.errors == []  # also no CSP report: nothing even tried to run


@pytest.fixture()
def keyed_server(
    tmp_path: Path, minilm_path: str, embedder: Any, scripted_llm: Any, tiny_llm_path: str
) -> Iterator[str]:
    """Keys on (POLRAG_API_KEYS), answers from the scripted model."""
    settings = scripted_settings(tmp_path, minilm_path, scripted_llm, tiny_llm_path, api_keys="klucz-1")
    with app_server(settings, embedder) as base:
        yield base


def test_keys_on_the_page_asks_for_a_key_and_works_after(
    open_page: Callable[[str], Watched], keyed_server: str
) -> None:
    watched = open_page(keyed_server)
    page = watched.page
    dialog = page.get_by_role("dialog", name="Klucz API")
    dialog.wait_for()
    watched.shot("1-key-asked")
    dialog.get_by_label("Klucz API").fill("zly-klucz")
    dialog.get_by_role("button", name="Zapisz klucz").click()
    page.wait_for_function("() => document.getElementById('key-message').textContent.includes('nie przyjął')")
    assert dialog.is_visible()
    dialog.get_by_label("Klucz API").fill("klucz-1")
    dialog.get_by_role("button", name="Zapisz klucz").click()
    page.locator("#documents-empty").wait_for()
    assert not dialog.is_visible()

    upload(page, PODATEK)
    documents_region(page).locator("tbody tr").first.wait_for()
    turn = ask(page, "Kiedy zaniechano poboru podatku dochodowego?")
    assert turn.locator(".answer-text").inner_text() == REPLY
    # The page image needs the key too: fetched with it, shown through an object URL.
    turn.locator(".answer-text").get_by_role("link").first.click()
    assert page_image_shown(page) > 0
    assert page.eval_on_selector("#page-image", "i => i.src").startswith("blob:")
    watched.shot("2-key-accepted")
    # The key lasts for the browser session: a reload does not ask again.
    page.reload()
    documents_region(page).locator("tbody tr").first.wait_for()
    assert not dialog.is_visible()
    assert page.evaluate("() => sessionStorage.getItem('polrag.apiKey')") == "klucz-1"
    assert watched.dialogs == []
    # The only console errors allowed are the 401s that made the page ask.
    assert all("401" in error for error in watched.errors), watched.errors


@pytest.fixture()
def modelless_server(tmp_path: Path, minilm_path: str, embedder: Any) -> Iterator[str]:
    """The LLM server is unreachable: questions get 503, search keeps working."""
    settings = web_settings(
        tmp_path,
        minilm_path,
        llm_backend="openai",
        llm_base_url="http://127.0.0.1:9/v1",
        llm_model="bielik",
        llm_tokenizer="/nonexistent",
    )
    with app_server(settings, embedder) as base:
        yield base


def test_without_a_generator_the_page_says_so_and_shows_the_passages(
    open_page: Callable[[str], Watched], modelless_server: str
) -> None:
    watched = open_page(modelless_server)
    page = watched.page
    upload(page, ODPADY)
    turn = ask(page, QUESTION)
    turn.locator(".passage-list li").first.wait_for()
    assert "Model językowy jest teraz niedostępny" in turn.locator(".notice").inner_text()
    assert turn.locator(".passage-list li").count() >= 1
    assert turn.locator(".passage-list .passage-text").first.inner_text().strip()
    watched.shot("1-no-generator")
    turn.get_by_role("link").first.click()
    source_panel(page).wait_for()
    assert page_image_shown(page) > 0
    watched.shot("2-no-generator-source")
    # the one console error is the 503 itself
    assert all("503" in error for error in watched.errors), watched.errors


def test_a_scan_shows_its_ocr_progress_and_its_page(
    open_page: Callable[[str], Watched],
    tmp_path: Path,
    minilm_path: str,
    embedder: Any,
    scripted_llm: Any,
    tiny_llm_path: str,
) -> None:
    from tests.ingest.ocr_fixtures import LINES, image_pdf, require_ocr, text_image

    require_ocr()
    # Three different pages (lines repeated on every page would be cut as running headers).
    scan = image_pdf(
        text_image(LINES),
        text_image(
            ["Odpady zakaźne przechowuje się w zamkniętych", "pojemnikach nie dłużej niż 72 godziny."]
        ),
        text_image(["Minister Klimatu ogłasza wykaz", "metod badania drobnoustrojów w odpadach."]),
        # Two more pages keep OCR running over several polls of the job, even on a fast machine.
        text_image(["Pojemniki oznacza się kodem odpadów", "oraz datą i godziną zamknięcia."]),
        text_image(["Rejestr odpadów prowadzi wytwórca", "w postaci elektronicznej przez pięć lat."]),
    )
    settings = scripted_settings(tmp_path, minilm_path, scripted_llm, tiny_llm_path, ocr_dpi=200)
    with app_server(settings, embedder) as base:
        watched = open_page(base)
        page = watched.page
        record_upload_statuses(page)
        upload(page, {"name": "skan.pdf", "mimeType": "application/pdf", "buffer": scan})
        statuses = page.evaluate("() => window.statuses")
        assert any(status.startswith("OCR: strona ") and status.endswith(" z 5") for status in statuses), (
            statuses
        )
        assert page.locator("#uploads .upload-status").inner_text().startswith("Dodano: 5 stron")
        row = documents_region(page).locator("tbody tr").first
        assert row.locator("td").nth(4).inner_text() == "OCR"
        watched.shot("1-scan-stored")
        turn = ask(page, "Jakie są warunki uznania odpadów za zakaźne?")
        assert turn.locator(".answer-text").inner_text() == REPLY
        turn.locator(".answer-text").get_by_role("link").first.click()
        assert page_image_shown(page) > 0
        watched.shot("2-scan-page")
        page.get_by_role("button", name="Następna strona ›").click()
        expect(page.locator("#page-label")).to_have_text("Strona 2 z 5")
        assert page_image_shown(page) > 0
        assert watched.errors == [] and watched.dialogs == []


def test_many_files_wait_for_a_free_job_slot_instead_of_failing(
    open_page: Callable[[str], Watched],
    tmp_path: Path,
    minilm_path: str,
    embedder: Any,
    scripted_llm: Any,
    tiny_llm_path: str,
) -> None:
    # One job at a time and none queued: the second file meets 429 while the first one ingests.
    settings = scripted_settings(
        tmp_path, minilm_path, scripted_llm, tiny_llm_path, upload_jobs=1, upload_jobs_queued=0
    )
    with app_server(settings, embedder) as base:
        watched = open_page(base)
        page = watched.page
        record_upload_statuses(page)
        upload(page, ODPADY, PODATEK)
        assert page.locator("#uploads li.failed").count() == 0
        assert page.locator("#uploads li.done").count() == 2
        assert any(s.startswith("Serwer jest zajęty") for s in page.evaluate("() => window.statuses"))
        assert all("429" in error for error in watched.errors), watched.errors


def test_new_conversation_mid_answer_stops_it_and_carries_none_of_it(
    open_page: Callable[[str], Watched], server: str, scripted_llm: Any
) -> None:
    """A new conversation ("Nowa rozmowa", or a collection switch) while an answer streams: the old
    answer stops, the next question can be asked at once, and it carries none of the old one."""
    watched = open_page(server)
    page = watched.page
    upload(page, ODPADY)
    page.get_by_role("textbox", name="Pytanie").fill(QUESTION)
    page.get_by_role("button", name="Zapytaj").click()
    page.wait_for_function(
        "() => (document.querySelector('#conversation .answer-text')?.textContent || '').startsWith('Odpady')"
    )
    page.get_by_role("button", name="Nowa rozmowa").click()
    # The old answer no longer holds the page: the ask button works again before it would end.
    expect(page.get_by_role("button", name="Zapytaj")).to_be_enabled(timeout=1_000)
    expect(page.locator("#conversation")).to_have_attribute("aria-busy", "false")
    # Long enough for the old stream to have ended, had it gone on.
    page.wait_for_timeout(0.15 * 1000 * len(REPLY.split()) + 500)
    assert page.locator("#conversation article.turn").count() == 0
    ask(page, "A kto to określa?")
    sent = scripted_llm.requests[-1]["messages"]
    assert not any(QUESTION in m["content"] for m in sent)
    assert not any(m["role"] == "assistant" for m in sent)
    assert watched.errors == [] and watched.dialogs == []


def test_an_answer_cut_off_before_its_end_says_so_and_stays_out_of_the_history(
    open_page: Callable[[str], Watched], server: str, scripted_llm: Any
) -> None:
    """The real server's stream, cut in transit before its `done` event (a proxy's timeout):
    the page shows what came, says it was cut short, and does not send it back as history."""
    watched = open_page(server)
    page = watched.page
    upload(page, ODPADY)

    cut_answers_before_done(page)
    turn = ask(page, QUESTION)
    expect(turn.locator(".answer-text .error")).to_contain_text("Odpowiedź przerwana")
    assert turn.locator(".answer-text").inner_text().startswith("Odpady")  # what came is shown
    page.unroute_all()
    ask(page, "A kto to określa?")
    sent = scripted_llm.requests[-1]["messages"]
    assert not any(m["role"] == "assistant" for m in sent)
    assert watched.errors == []


def test_an_error_event_right_after_tokens_stays_on_the_page(
    open_page: Callable[[str], Watched], server: str, scripted_llm: Any
) -> None:
    """Tokens, then the server's `error` event in the same read (the LLM server gone mid-answer):
    the frame the tokens asked for drew after the error message and wiped it away."""
    watched = open_page(server)
    page = watched.page
    upload(page, ODPADY)

    cut_answers_before_done(
        page, 'event: error\ndata: {"error": {"code": "model_unavailable", "message": "gone"}}\n\n'
    )
    turn = ask(page, QUESTION)
    page.wait_for_timeout(300)  # several frames: a pending draw would have run by now
    expect(turn.locator(".answer-text .error")).to_contain_text("Model językowy jest niedostępny")
    assert turn.locator(".answer-text").inner_text().startswith("Odpady")  # what came is shown
    assert watched.errors == []


def test_a_slow_document_list_of_the_collection_left_does_not_replace_the_one_chosen(
    open_page: Callable[[str], Watched], server: str
) -> None:
    watched = open_page(server)
    page = watched.page
    upload(page, PODATEK)
    page.get_by_label("Nazwa nowej kolekcji").fill("umowy")
    page.get_by_role("button", name="Utwórz").click()
    page.locator("#documents-empty").wait_for()
    upload(page, ODPADY)
    page.wait_for_function(
        "() => document.querySelector('#document-rows td')?.textContent === 'DU_2020_poz3.pdf'"
    )
    held: list[Any] = []
    page.route(
        lambda url: "/v1/documents?" in url and "collection=default" in url,
        lambda route: held.append(route),
    )
    page.get_by_label("Kolekcja").select_option("default")
    while not held:
        page.wait_for_timeout(50)
    page.get_by_label("Kolekcja").select_option("umowy")
    page.wait_for_function(
        "() => document.querySelector('#document-rows td')?.textContent === 'DU_2020_poz3.pdf'"
    )
    held[0].continue_()  # the list of the collection left answers last
    page.wait_for_timeout(700)
    assert page.get_by_label("Kolekcja").input_value() == "umowy"
    names = documents_region(page).locator("tbody td.name").all_inner_texts()
    assert names == [ODPADY.name]
    assert watched.errors == []


def test_source_panel_closed_while_its_page_loads_stays_closed_without_errors(
    open_page: Callable[[str], Watched], server: str
) -> None:
    watched = open_page(server)
    page = watched.page
    upload(page, ODPADY)
    turn = ask(page, QUESTION)
    held: list[Any] = []
    page.route(lambda url: "/v1/documents/" in url and "/text?" in url, lambda route: held.append(route))
    turn.locator(".answer-text").get_by_role("link").first.click()
    while not held:
        page.wait_for_timeout(50)
    page.keyboard.press("Escape")
    assert not source_panel(page).is_visible()
    held[0].continue_()  # the page's text arrives after the panel was closed
    page.wait_for_timeout(1_000)
    assert not source_panel(page).is_visible()
    assert page.eval_on_selector("#page-image", "i => i.hasAttribute('src')") is False
    assert watched.errors == []


def test_a_follow_up_to_an_answer_longer_than_a_history_turn_is_answered(
    open_page: Callable[[str], Watched], server: str, scripted_llm: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The API takes history turns of 20,000 characters at most; a longer answer (a raised
    POLRAG_LLM_MAX_NEW_TOKENS) went back whole, and every follow-up was refused with a 422."""
    long_reply = "Odpady uznaje się za zakaźne [1]. " + " ".join(["drobnoustroje" * 8] * 220)
    assert len(long_reply) > 20_000
    monkeypatch.setattr(scripted_llm, "reply", long_reply)
    monkeypatch.setattr(scripted_llm, "piece_delay_s", 0.0)
    watched = open_page(server)
    page = watched.page
    upload(page, ODPADY)
    first = ask(page, QUESTION)
    assert first.locator(".answer-text").inner_text() == long_reply
    monkeypatch.setattr(scripted_llm, "reply", REPLY)
    follow_up = ask(page, "A kto to określa?")
    assert follow_up.locator(".error").count() == 0, follow_up.inner_text()
    assert follow_up.locator(".answer-text").inner_text() == REPLY
    assert watched.errors == []


def test_a_key_of_spaces_keeps_the_key_dialog_open(
    open_page: Callable[[str], Watched], keyed_server: str
) -> None:
    """Spaces pass the field's `required` and closed the dialog, but were no key: the page then
    waited for one with no dialog to give it in."""
    watched = open_page(keyed_server)
    page = watched.page
    dialog = page.get_by_role("dialog", name="Klucz API")
    dialog.wait_for()
    dialog.get_by_label("Klucz API").fill("   ")
    dialog.get_by_role("button", name="Zapisz klucz").click()
    page.wait_for_timeout(300)
    assert dialog.is_visible()
    dialog.get_by_label("Klucz API").fill("klucz-1")
    dialog.get_by_role("button", name="Zapisz klucz").click()
    page.locator("#documents-empty").wait_for()
    assert not dialog.is_visible()


BUSY = {"error": {"code": "collection_busy", "message": "collection 'default' is being written"}}


@pytest.mark.parametrize(
    ("failure", "said"),
    [("network", "Brak połączenia z serwerem."), ("busy", "Kolekcja jest zajęta przez inny zapis.")],
)
def test_a_failed_delete_is_said_in_polish(
    open_page: Callable[[str], Watched], server: str, failure: str, said: str
) -> None:
    """A delete with no answer threw past the page; a refused one (409) had its message hidden at
    once by the table's reload."""
    watched = open_page(server)
    page = watched.page
    upload(page, PODATEK)
    documents_region(page).locator("tbody tr").first.wait_for()

    def fail_deletes(route: Any) -> None:
        if route.request.method != "DELETE":
            route.continue_()
        elif failure == "network":
            route.abort()
        else:
            route.fulfill(status=409, json=BUSY, headers={"Retry-After": "5"})

    page.route(lambda url: "/v1/documents/" in url, fail_deletes)
    page.get_by_role("button", name=f"Usuń {PODATEK.name}").click()
    page.get_by_role("dialog", name="Usunąć dokument?").get_by_role("button", name="Usuń").click()
    error = page.locator("#documents-error")
    expect(error).to_be_visible()
    assert error.inner_text().startswith(f"Nie udało się usunąć dokumentu. {said}")
    page.wait_for_timeout(300)  # the table's reload after the attempt leaves the message up
    assert error.is_visible()
    assert documents_region(page).locator("tbody td.name").all_inner_texts() == [PODATEK.name]
    assert not any("Uncaught" in e for e in watched.errors), watched.errors


def test_an_upload_with_no_answer_fails_on_its_row_in_polish(
    open_page: Callable[[str], Watched], server: str
) -> None:
    watched = open_page(server)
    page = watched.page
    page.locator("#documents-empty").wait_for()
    page.route(
        lambda url: "/v1/documents?" in url,
        lambda route: route.abort() if route.request.method == "POST" else route.continue_(),
    )
    upload(page, PODATEK)
    failed = page.locator("#uploads li.failed")
    assert failed.locator(".upload-status").inner_text() == "Brak połączenia z serwerem."
    assert page.locator("#documents-empty").is_visible()
