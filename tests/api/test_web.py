"""The web page's files: served with a strict CSP, no inline script in them, shipped in the package."""

from __future__ import annotations

import re
import tomllib
from fnmatch import fnmatch
from pathlib import Path

from fastapi.testclient import TestClient

import api.web

ROOT = Path(__file__).parent.parent.parent
STATIC = Path(api.web.__file__).parent / "static"


def test_page_and_its_modules_come_with_the_content_security_policy(client: TestClient) -> None:
    page = client.get("/")
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    policy = page.headers["content-security-policy"]
    assert "script-src 'self';" in policy
    assert "'unsafe-inline'" not in policy and "'unsafe-eval'" not in policy
    assert "frame-ancestors 'none'" in policy and "object-src 'none'" in policy
    module = client.get("/static/js/main.js")
    assert module.status_code == 200 and "javascript" in module.headers["content-type"]
    assert module.headers["content-security-policy"] == policy
    assert module.headers["x-content-type-options"] == "nosniff"
    assert client.get("/static/js/nie-ma.js").status_code == 404
    # The API keeps its JSON and is not wrapped by the page's headers.
    assert "content-security-policy" not in client.get("/healthz").headers


def test_page_needs_no_key_but_the_api_does(api_settings, embedder, tiny_generator, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    from rag.settings import load_settings
    from tests.api.conftest import make_client

    monkeypatch.setenv("POLRAG_API_KEYS", "klucz-1")
    with make_client(load_settings(), embedder, tiny_generator) as keyed:
        assert keyed.get("/").status_code == 200  # the page then asks for the key
        assert keyed.get("/static/js/api.js").status_code == 200
        assert keyed.get("/v1/documents").status_code == 401


def test_no_inline_script_or_handler_in_the_html() -> None:
    html = (STATIC / "index.html").read_text(encoding="utf-8")
    scripts = re.findall(r"<script\b([^>]*)>(.*?)</script>", html, flags=re.S)
    assert scripts and all('src="' in attributes and not body.strip() for attributes, body in scripts)
    assert not re.search(r"\son[a-z]+\s*=", html), "inline event handler"
    assert not re.search(r"\sstyle\s*=", html), "inline style (style-src 'self' refuses it)"


def test_javascript_never_writes_markup() -> None:
    for module in STATIC.glob("js/*.js"):
        source = module.read_text(encoding="utf-8")
        for sink in ("innerHTML", "outerHTML", "insertAdjacentHTML", "document.write", "eval(", "Function("):
            assert sink not in source, f"{module.name} uses {sink}"


def test_every_static_file_is_package_data() -> None:
    setuptools = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]
    patterns = setuptools["package-data"]["api"]
    files = [p.relative_to(STATIC.parent).as_posix() for p in STATIC.rglob("*") if p.is_file()]
    assert files
    missing = [f for f in files if not any(fnmatch(f, pattern) for pattern in patterns)]
    assert not missing, f"not shipped in a wheel: {missing}"
