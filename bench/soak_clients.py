"""The soak's clients: each owns some file names and knows what the server must hold for them.

A client works on its own names only, so what the server should hold for each is known
exactly, except after a request a kill cut short: that file is "pending" (the version before
or the one sent) until the orchestrator settles it from the document list after the restart.
"""

from __future__ import annotations

import hashlib
import random
import threading
import time
from collections import Counter
from dataclasses import dataclass, field

import httpx

COLLECTIONS = ("default", "soak")
FILLER = [
    "Minister właściwy do spraw środowiska zatwierdza plan urządzenia lasu w terminie 30 dni.",
    "Nadleśniczy prowadzi gospodarkę leśną w nadleśnictwie na podstawie planu urządzenia lasu.",
    "Odpady medyczne o właściwościach zakaźnych unieszkodliwia się przez termiczne przekształcanie.",
    "Zaniechanie poboru podatku dochodowego dotyczy dochodów uzyskanych w roku podatkowym 2020.",
    "Rada gminy określa w drodze uchwały regulamin utrzymania czystości i porządku na terenie gminy.",
    "Wniosek o wydanie zezwolenia składa się do właściwego organu wraz z wymaganymi dokumentami.",
    "Przepisy rozporządzenia stosuje się do postępowań wszczętych przed dniem jego wejścia w życie.",
    "Kontrolę przestrzegania przepisów ustawy sprawuje wojewódzki inspektor ochrony środowiska.",
]
QUERIES = ["plan urządzenia lasu", "odpady zakaźne", "podatek dochodowy", "zezwolenie wniosek organ"]
LETTERS = "bcdfghjklmnprstwz"
BUSY = (409, 429, 503)  # refusals that carry Retry-After: the request changed nothing


@dataclass(frozen=True)
class Version:
    marker: str  # a made-up word that only this version of this file contains
    body: bytes

    @property
    def sha(self) -> str:
        return hashlib.sha256(self.body).hexdigest()


@dataclass
class FileState:
    name: str
    collection: str
    current: Version | None = None
    document_id: str | None = None
    pending: tuple[Version | None, Version | None] | None = None  # (before, sent) of a cut request
    gone: list[str] = field(default_factory=list)  # markers of versions deleted or replaced


class Shared:
    """What clients and the orchestrator share: the pause gate and the counters."""

    def __init__(self, base: str, seed: int) -> None:
        self.base = base
        self.seed = seed
        self.requests: Counter[str] = Counter()
        self.errors: Counter[str] = Counter()
        self.violations: list[str] = []
        self.kills = 0
        self.lost = 0
        self._lock = threading.Lock()
        self._gate = threading.Condition()
        self._running = False
        self._stopped = False
        self._busy = 0

    def rng_for(self, client: int) -> random.Random:
        return random.Random(self.seed * 1000 + client)

    def count(self, kind: str, status: int | None) -> None:
        with self._lock:
            self.requests[kind] += 1
            if status is not None and status >= 500:
                self.errors["5xx"] += 1
                self.violations.append(f"{kind} answered {status}")

    def error(self, kind: str) -> None:
        with self._lock:
            self.errors[kind] += 1

    def violation(self, message: str, *, lost: bool = False) -> None:
        with self._lock:
            self.violations.append(message)
            self.lost += lost

    def summary(self) -> str:
        return (
            f"{sum(self.requests.values())} requests, {dict(self.errors)}, "
            f"{len(self.violations)} violations, {self.lost} lost"
        )

    # -- the gate: clients start an operation only while running ---------------------------

    def enter(self) -> bool:
        with self._gate:
            while not self._running and not self._stopped:
                self._gate.wait(0.5)
            if self._stopped:
                return False
            self._busy += 1
            return True

    def leave(self) -> None:
        with self._gate:
            self._busy -= 1
            self._gate.notify_all()

    @property
    def running(self) -> bool:
        return self._running

    def pause(self) -> None:
        with self._gate:
            self._running = False

    def resume(self) -> None:
        with self._gate:
            self._running = True
            self._gate.notify_all()

    def wait_idle(self) -> None:
        with self._gate:
            while self._busy:
                self._gate.wait(0.5)

    def stop(self) -> None:
        with self._gate:
            self._stopped = True
            self._running = False
            self._gate.notify_all()


class Client(threading.Thread):
    """Uploads, re-uploads, deletes, searches, asks and lists, over its own file names."""

    def __init__(self, index: int, shared: Shared, files: int) -> None:
        super().__init__(name=f"soak-client-{index}", daemon=True)
        self.index = index
        self.shared = shared
        self.rng = shared.rng_for(index)
        self.files = [FileState(f"c{index}-d{j}.txt", COLLECTIONS[(index + j) % 2]) for j in range(files)]
        self._versions = 0

    def run(self) -> None:
        with httpx.Client(base_url=self.shared.base, timeout=120) as http:
            while self.shared.enter():
                try:
                    self._one(http)
                except httpx.TransportError as exc:
                    # Expected when the kill lands mid-request; anything else is a fault.
                    kind = "cut by kill" if not self.shared.running else f"transport: {type(exc).__name__}"
                    self.shared.error(kind)
                    if self.shared.running:
                        self.shared.violation(f"client {self.index}: {exc!r} while the server was up")
                finally:
                    self.shared.leave()

    def _one(self, http: httpx.Client) -> None:
        ready = [f for f in self.files if f.pending is None]
        if not ready:
            time.sleep(0.2)
            return
        state = self.rng.choice(ready)
        roll = self.rng.random()
        if roll < 0.35:
            self._upload(http, state)
        elif roll < 0.45 and state.current is not None:
            self._remove(http, state)
        elif roll < 0.75:
            self._search(http, state)
        elif roll < 0.88:
            response = http.post(
                "/v1/ask", json={"question": f"Co mówi dokument o {self.rng.choice(QUERIES)}?"}
            )
            self._expect("ask", response, 200)
        elif roll < 0.96:
            response = http.get("/v1/collections" if self.rng.random() < 0.5 else "/v1/documents")
            self._expect("list", response, 200)
        else:
            self._scratch_collection(http)

    def _scratch_collection(self, http: httpx.Client) -> None:
        """A collection of this client's own: filled, deleted whole, then gone for searches."""
        name = f"scratch-c{self.index}"
        state = FileState(f"{name}.txt", name)
        sent = self._new_version(state)
        files = [("files", (state.name, sent.body, "text/plain"))]
        response = http.post("/v1/documents", files=files, params={"collection": name})
        self._expect("upload", response, 200)
        if response.status_code != 200:
            return
        response = http.delete(f"/v1/collections/{name}")
        self._expect("collection delete", response, 204)
        if response.status_code == 204:
            body = {"query": sent.marker, "collection": name, "mode": "lexical"}
            self._expect("search", http.post("/v1/search", json=body), 404)

    def _new_version(self, state: FileState) -> Version:
        self._versions += 1
        n, word = self._versions * 97 + self.index, ""
        while n or len(word) < 4:
            n, digit = divmod(n, len(LETTERS))
            word += LETTERS[digit]
        marker = f"zn{word}{LETTERS[self.index % len(LETTERS)]}x"
        filler = " ".join(self.rng.sample(FILLER, 3))
        text = f"Dokument {state.name}. Znacznik tego dokumentu to {marker}. {filler}\n"
        return Version(marker, text.encode("utf-8"))

    def _upload(self, http: httpx.Client, state: FileState) -> None:
        before = state.current
        if before is not None and self.rng.random() < 0.3:
            sent, expected = before, "unchanged"
        else:
            sent, expected = self._new_version(state), "added" if before is None else "replaced"
        background = self.rng.random() < 0.25
        state.pending = (before, sent)
        files = [("files", (state.name, sent.body, "text/plain"))]
        params = {"collection": state.collection, "background": str(background).lower()}
        response = http.post("/v1/documents", files=files, params=params)
        self._expect("upload", response, 202 if background else 200)
        if response.status_code == 202:
            result = self._wait_for_job(http, response.json()["url"])
            if result is None:
                return  # the job was cut short or lost: settled after the restart
        elif response.status_code == 200:
            result = response.json()["files"][0]
        else:
            state.pending = None  # refused: nothing changed
            return
        state.pending = None
        if result["status"] != expected:
            self.shared.violation(
                f"{state.name}: upload answered {result['status']!r}, expected {expected!r}"
            )
        if result["status"] == "failed":
            return
        self._became(state, sent, result["id"])
        # Findable at once: the answer said it is stored.
        self._must_find(http, state, "right after its upload")

    def _wait_for_job(self, http: httpx.Client, url: str) -> dict[str, object] | None:
        while True:
            job = http.get(url)
            self.shared.count("job", job.status_code)
            if job.status_code != 200:
                self.shared.violation(f"job {url} answered {job.status_code} while the server was up")
                return None
            body = job.json()
            if body["status"] == "done":
                return body["files"][0]  # type: ignore[no-any-return]
            if body["status"] == "failed":
                self.shared.violation(f"job {url} failed: {body['error']}")
                return None
            time.sleep(0.2)

    def _remove(self, http: httpx.Client, state: FileState) -> None:
        before = state.current
        state.pending = (before, None)
        response = http.delete(f"/v1/documents/{state.document_id}", params={"collection": state.collection})
        self._expect("delete", response, 204)
        state.pending = None
        if response.status_code == 204:
            self._became(state, None, None)
            self._must_not_find(http, state, before.marker, "right after its delete")  # type: ignore[union-attr]

    def _search(self, http: httpx.Client, state: FileState) -> None:
        if state.current is not None and self.rng.random() < 0.6:
            self._must_find(http, state, "while running")
        elif state.gone and self.rng.random() < 0.5:
            self._must_not_find(http, state, self.rng.choice(state.gone), "while running")
        else:
            # A collection exists once a file was uploaded to it; "default" from the start.
            where = state.collection if state.current is not None else "default"
            body = {"query": self.rng.choice(QUERIES), "collection": where, "k": 5}
            self._expect("search", http.post("/v1/search", json=body), 200)

    def _became(self, state: FileState, version: Version | None, document_id: str | None) -> None:
        old = state.current
        if old is not None and (version is None or old.marker != version.marker):
            state.gone.append(old.marker)
            del state.gone[:-20]  # the latest 20 are checked; older ones were checked before
        state.current, state.document_id = version, document_id

    def _lexical(
        self, http: httpx.Client, state: FileState, marker: str, *, absent_ok: bool = False
    ) -> list[dict[str, str]] | None:
        body = {"query": marker, "collection": state.collection, "k": 5, "mode": "lexical"}
        response = http.post("/v1/search", json=body)
        if absent_ok and response.status_code == 404:  # a collection a cut upload never created
            self.shared.count("search", 404)
            return []
        self._expect("search", response, 200)
        return response.json()["hits"] if response.status_code == 200 else None  # type: ignore[no-any-return]

    def _must_find(self, http: httpx.Client, state: FileState, when: str) -> None:
        version = state.current
        assert version is not None
        hits = self._lexical(http, state, version.marker)
        if hits is not None and not any(
            h["document"] == state.name and version.marker in h["text"] for h in hits
        ):
            shown = [h["document"] for h in hits] or "nothing"
            self.shared.violation(f"{state.name}: its marker {version.marker} found {shown} {when}")

    def _must_not_find(self, http: httpx.Client, state: FileState, marker: str, when: str) -> None:
        hits = self._lexical(http, state, marker, absent_ok=True)
        if hits and any(marker in h["text"] for h in hits):
            self.shared.violation(f"{state.name}: deleted or replaced text {marker} found {when}")

    def _expect(self, kind: str, response: httpx.Response, status: int) -> None:
        self.shared.count(kind, response.status_code)
        if response.status_code in BUSY and "retry-after" in response.headers:
            self.shared.error(f"{kind} busy {response.status_code}")
        elif response.status_code != status and response.status_code < 500:
            self.shared.error(f"{kind} {response.status_code}")
            self.shared.violation(f"{kind} answered {response.status_code}: {response.text[:200]}")

    # -- after a restart, clients paused ---------------------------------------------------

    def settle(self, stored: dict[str, dict[str, dict[str, str]]], label: str) -> None:
        """Settle cut requests from the document list, and count what the server lost."""
        for state in self.files:
            held = stored[state.collection].get(state.name)
            sha = held["sha256"] if held else None
            if state.pending is not None:
                before, sent = state.pending
                state.pending = None
                for version in (sent, before):
                    if (version.sha if version else None) == sha:
                        if version is not sent and sent is not None and sent is not before:
                            state.gone.append(sent.marker)  # never stored: must not be found
                        self._became(state, version, held["id"] if held else None)
                        break
                else:
                    self.shared.violation(f"{label}: {state.name} holds neither version", lost=True)
                    self._became(state, None, None)
                continue
            if state.current is not None and sha != state.current.sha:
                self.shared.violation(f"{label}: {state.name} was answered stored but is {sha}", lost=True)
                self._became(state, None, None)

    def check_findable(self, http: httpx.Client, label: str) -> None:
        for state in self.files:
            if state.current is not None:
                self._must_find(http, state, label)
            for marker in state.gone:
                self._must_not_find(http, state, marker, label)
