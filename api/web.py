"""The web page: `/` and its static files (HTML, CSS, ES modules shipped in the package).

No build step and nothing fetched at run time. Every response under `/` and `/static/` carries a
Content-Security-Policy without inline script or eval, so even text that slipped into the page as
markup could not run.
"""

from __future__ import annotations

from pathlib import Path

from fastapi import FastAPI
from fastapi.responses import FileResponse
from starlette.staticfiles import StaticFiles
from starlette.types import ASGIApp, Message, Receive, Scope, Send

STATIC = Path(__file__).parent / "static"
CSP = (
    "default-src 'self'; img-src 'self' blob: data:; script-src 'self'; style-src 'self'; "
    "connect-src 'self'; object-src 'none'; base-uri 'none'; frame-ancestors 'none'; form-action 'self'"
)
PAGE_HEADERS = [
    (b"content-security-policy", CSP.encode()),
    (b"x-content-type-options", b"nosniff"),
    (b"referrer-policy", b"no-referrer"),
    # Revalidate each time (the ETag makes that cheap): an upgraded server never runs old modules.
    (b"cache-control", b"no-cache"),
]


def install_web(app: FastAPI) -> None:
    """Serve the page at `/` and its files at `/static/...` with the security headers."""
    app.mount("/static", StaticFiles(directory=STATIC), name="static")

    @app.get("/", include_in_schema=False)
    def page() -> FileResponse:
        return FileResponse(STATIC / "index.html", media_type="text/html; charset=utf-8")

    app.add_middleware(PageHeaders)


class PageHeaders:
    """Adds the page's security headers to `/` and `/static/...` responses (the API keeps its own)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        path = scope.get("path", "") if scope["type"] == "http" else ""
        if path != "/" and not path.startswith("/static/"):
            await self.app(scope, receive, send)
            return

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                names = {name for name, _ in PAGE_HEADERS}
                kept = [(k, v) for k, v in message.get("headers", []) if k.lower() not in names]
                message = {**message, "headers": kept + PAGE_HEADERS}
            await send(message)

        await self.app(scope, receive, send_with_headers)
