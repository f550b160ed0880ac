"""Loading a hub model without the hub: from the local cache at once, instead of retrying.

Offline, the hub client retries every request with growing pauses before transformers falls
back to the cache or gives up: ``polrag ask`` waited 49 s for the one-line error that the
generator is not there. One short TCP connection to the hub tells whether it can answer at all;
when it cannot, models load with ``local_files_only``, from the cache or failing at once.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
import time
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

log = logging.getLogger(__name__)

PROBE_TIMEOUT_S = 3.0
# A failed probe is remembered this long: the service retries loading its generator, and the
# network may come back.
PROBE_TTL_S = 60.0
_PROXY_VARIABLES = ("HTTPS_PROXY", "https_proxy", "HTTP_PROXY", "http_proxy", "ALL_PROXY", "all_proxy")
_last_probe: tuple[float, bool] | None = None
_probe_lock = threading.Lock()


def hub_options(model: str) -> dict[str, Any]:
    """Keyword arguments for ``from_pretrained`` / SentenceTransformer / CrossEncoder loading
    ``model``: ``local_files_only`` when it is a hub id and the hub cannot be reached now.

    Nothing is probed for a local folder, under HF_HUB_OFFLINE (the hub client then reads the
    cache itself) or behind a proxy (a direct connection says nothing about the proxy's).
    """
    from huggingface_hub import constants

    if Path(model).is_dir() or constants.HF_HUB_OFFLINE:
        return {}
    if any(os.environ.get(name) for name in _PROXY_VARIABLES) or hub_reachable():
        return {}
    log.info("the Hugging Face hub cannot be reached: %s is loaded from the local cache only", model)
    return {"local_files_only": True}


def hub_reachable() -> bool:
    """Whether a TCP connection to the hub's endpoint opens within PROBE_TIMEOUT_S (remembered
    for PROBE_TTL_S)."""
    global _last_probe
    from huggingface_hub import constants

    with _probe_lock:
        if _last_probe is not None and time.monotonic() - _last_probe[0] < PROBE_TTL_S:
            return _last_probe[1]
        endpoint = urlsplit(constants.ENDPOINT)
        port = endpoint.port or (443 if endpoint.scheme == "https" else 80)
        try:
            with socket.create_connection((endpoint.hostname or "", port), timeout=PROBE_TIMEOUT_S):
                reachable = True
        except OSError:
            reachable = False
        _last_probe = (time.monotonic(), reachable)
        return reachable


def forget_probe() -> None:
    """Probe again on the next question (tests, and a caller that knows the network changed)."""
    global _last_probe
    with _probe_lock:
        _last_probe = None


def cached_snapshot(model: str) -> Path | None:
    """The folder of ``model``'s snapshot in the local hub cache (named by its commit), or None
    when it is not a hub id or not downloaded. Never a download."""
    try:
        from huggingface_hub import snapshot_download

        return Path(snapshot_download(model, local_files_only=True))
    except Exception:  # not cached, no huggingface_hub, a bad id
        return None
