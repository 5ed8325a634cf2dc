"""Which OpenAI-compatible endpoint to use: the configured one, else the embedded model started here."""

from __future__ import annotations

import contextlib
import logging
import os
import urllib.error
import urllib.request
from collections.abc import Iterator
from urllib.parse import urlsplit

from ttc_plugins.local._server import DEFAULT_MODEL, LocalModelError, local_server

__all__ = ["LOCAL_API_KEY", "api_key_for", "check_reachable", "endpoint_from_env", "is_loopback", "model_endpoint"]

logger = logging.getLogger(__name__)

LOCAL_API_KEY = "sk-local-no-key-needed"  # the local server checks none; the OpenAI clients insist on one
_LOOPBACK_HOSTS = ("127.0.0.1", "localhost", "::1")


def is_loopback(base_url: str) -> bool:
    """Whether ``base_url`` is a server on this machine (where the local-server quirks apply)."""
    return (urlsplit(base_url).hostname or "") in _LOOPBACK_HOSTS


def endpoint_from_env(base_url: str | None = None, model: str | None = None) -> tuple[str | None, str]:
    """The endpoint to use: the arguments, else ``TTC_BASE_URL`` / ``TTC_MODEL``, else none (start the local one)."""
    return base_url or os.environ.get("TTC_BASE_URL") or None, model or os.environ.get("TTC_MODEL") or DEFAULT_MODEL


def check_reachable(base_url: str, *, timeout: float = 5.0) -> None:
    """Refuse, in one line that says what to do, an endpoint nothing answers at (before any work starts).

    Any HTTP answer counts as reachable (a hosted API may refuse ``/models`` without a key); only a
    failed connection, an unknown host or a timeout does not.

    Raises:
        LocalModelError: nothing answers at ``base_url``.
    """
    # Only the endpoint the user configured is asked, the one the command is about to call anyway;
    # nothing is downloaded, and the embedded model (no base_url) is never checked this way.
    url = base_url.rstrip("/") + "/models"
    try:
        with urllib.request.urlopen(url, timeout=timeout):
            return
    except urllib.error.HTTPError:
        return  # it answered
    except (urllib.error.URLError, OSError, ValueError) as error:
        cause = getattr(error, "reason", error)
        raise LocalModelError(
            f"nothing answers at {base_url} ({cause}): start that server, or unset TTC_BASE_URL and drop "
            "--base-url to use the embedded model"
        ) from None


@contextlib.contextmanager
def model_endpoint(
    base_url: str | None = None, model: str | None = None, *, check: bool = True
) -> Iterator[tuple[str, str]]:
    """Yield ``(base_url, model)``: the given or configured endpoint, else the embedded model, started here.

    This is how the demo and the cookbook recipes find a model: set ``TTC_BASE_URL`` and ``TTC_MODEL``
    to use any OpenAI-compatible server, or leave them unset to run the embedded SmolLM2-135M.

    A configured endpoint is checked first (``check``): if nothing answers there, the error says so in
    one line, before any work starts.

    Example:
        >>> with model_endpoint("http://127.0.0.1:8765/v1", "smollm2-135m", check=False) as (url, name):
        ...     url, name
        ('http://127.0.0.1:8765/v1', 'smollm2-135m')
    """
    base_url, model = endpoint_from_env(base_url, model)
    if base_url:
        if check:
            check_reachable(base_url)
        yield base_url, model
        return
    logger.info("starting the embedded model (SmolLM2-135M-Instruct on llama.cpp, loopback only) ...")
    with local_server(model_alias=model) as url:
        yield url, model


def api_key_for(base_url: str) -> str:
    """``OPENAI_API_KEY``, else a stand-in key for a local server (which checks none); a hosted one needs a key."""
    key = os.environ.get("OPENAI_API_KEY")
    if key:
        return key
    if is_loopback(base_url):
        return LOCAL_API_KEY
    raise LocalModelError(f"{base_url} is not a local server: set OPENAI_API_KEY to its API key")
