"""An async HTTP client for the OpenAI SDK whose connections never outlive their event loop.

langchain-openai gives every ``ChatOpenAI`` without an ``http_async_client`` one process-wide async
client per base URL (an ``lru_cache``), so every event loop in the process shares one connection
pool. A keep-alive connection opened in one ``asyncio.run(...)`` stays in that pool after the loop
closes, and the next loop that draws it fails with ``RuntimeError: Event loop is closed``: since
openai 3 (``httpx2``/``httpcore2``) the dead connection is no longer discarded. Two
``asyncio.run(llm.ainvoke(...))`` in a row, or two pytest-asyncio tests, are enough.

The client here keeps one transport, and so one pool, per running event loop. A loop's transport is
dropped with the loop (a weak reference), and its sockets are closed when it is collected.

Example:
    >>> from langchain_openai import ChatOpenAI
    >>> llm = ChatOpenAI(base_url="http://127.0.0.1:8765/v1", api_key="sk-local",
    ...                  http_async_client=loop_local_async_client())
    >>> # asyncio.run(llm.ainvoke("hi")) now works in one event loop after another
"""

from __future__ import annotations

import asyncio
import importlib
import weakref
from types import ModuleType
from typing import Any

__all__ = ["loop_local_async_client"]


def _sdk_httpx() -> ModuleType:
    """The httpx library the installed OpenAI SDK is built on (``httpx2`` from openai 3, else ``httpx``).

    Read off the SDK's own client class, so transports built here are the kind its client accepts.
    """
    import openai

    base = next(cls for cls in openai.DefaultAsyncHttpxClient.__mro__ if cls.__name__ == "AsyncClient")
    return importlib.import_module(base.__module__.partition(".")[0])


class _TransportPerLoop:
    """An async transport that hands each request to a transport owned by the running event loop."""

    def __init__(self, httpx: ModuleType, limits: Any) -> None:
        self._httpx = httpx
        self._limits = limits
        self._by_loop: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, Any] = weakref.WeakKeyDictionary()

    def for_running_loop(self) -> Any:
        loop = asyncio.get_running_loop()
        transport = self._by_loop.get(loop)
        if transport is None:
            transport = self._by_loop[loop] = self._httpx.AsyncHTTPTransport(limits=self._limits)
        return transport

    async def handle_async_request(self, request: Any) -> Any:
        return await self.for_running_loop().handle_async_request(request)

    async def aclose(self) -> None:
        transport = self._by_loop.pop(asyncio.get_running_loop(), None)
        if transport is not None:
            await transport.aclose()

    async def __aenter__(self) -> _TransportPerLoop:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()


def loop_local_async_client() -> Any:
    """An ``openai.DefaultAsyncHttpxClient`` (the SDK's defaults) with one connection pool per event loop.

    Pass it as ``http_async_client`` to ``ChatOpenAI`` / ``OpenAI`` (langchain-openai) or as
    ``http_client`` to ``openai.AsyncOpenAI``.
    """
    import openai

    httpx = _sdk_httpx()
    # The SDK's pool limits (max_connections=1000, max_keepalive_connections=100): a transport given
    # to the client does not inherit the client's `limits`.
    limits = httpx.Limits(max_connections=1000, max_keepalive_connections=100)
    return openai.DefaultAsyncHttpxClient(transport=_TransportPerLoop(httpx, limits))
