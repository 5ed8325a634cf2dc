"""The local clients work from one event loop after another (two ``asyncio.run`` in a row).

langchain-openai shares one cached async connection pool per base URL across all event loops; with
openai 3 (httpx2/httpcore2) a keep-alive connection left from a closed loop made the next loop's call
fail with "RuntimeError: Event loop is closed". The server here keeps connections alive, as
llama.cpp's does, and counts the connections it accepts.
"""

from __future__ import annotations

import asyncio
import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from ttc_plugins.local import local_chat_model, local_completion_model

_CHAT_REPLY = {
    "id": "chatcmpl-1",
    "object": "chat.completion",
    "created": 0,
    "model": "fake",
    "choices": [{"index": 0, "message": {"role": "assistant", "content": "hello"}, "finish_reason": "stop"}],
    "usage": {"prompt_tokens": 5, "completion_tokens": 1, "total_tokens": 6},
}
_COMPLETION_REPLY = {
    "id": "cmpl-1",
    "object": "text_completion",
    "created": 0,
    "model": "fake",
    "choices": [{"index": 0, "text": "hello", "finish_reason": "stop", "logprobs": None}],
    "usage": {"prompt_tokens": 5, "completion_tokens": 1, "total_tokens": 6},
}


class _KeepAliveOpenAI(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep connections open between requests, as llama.cpp's server does
    connections = 0

    def setup(self) -> None:
        super().setup()
        type(self).connections += 1

    def do_POST(self) -> None:
        self.rfile.read(int(self.headers.get("Content-Length", 0)))
        reply = _COMPLETION_REPLY if self.path.endswith("/completions") and "chat" not in self.path else _CHAT_REPLY
        body = json.dumps(reply).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        pass


class _Server:
    def __init__(self) -> None:
        self.handler = type("Handler", (_KeepAliveOpenAI,), {"connections": 0})
        self.http = ThreadingHTTPServer(("127.0.0.1", 0), self.handler)
        self.url = f"http://127.0.0.1:{self.http.server_address[1]}/v1"


@pytest.fixture
def server() -> Iterator[_Server]:
    running = _Server()
    threading.Thread(target=running.http.serve_forever, daemon=True).start()
    try:
        yield running
    finally:
        running.http.shutdown()
        running.http.server_close()


@pytest.fixture
def keep_alive_server(server: _Server) -> str:
    return server.url


def test_one_chat_model_answers_in_one_event_loop_after_another(keep_alive_server):
    llm = local_chat_model(keep_alive_server, model="fake")
    first = asyncio.run(llm.ainvoke("hi"))
    second = asyncio.run(llm.ainvoke("hi"))  # raised "Event loop is closed" with openai 3.57.0
    assert (first.content, second.content) == ("hello", "hello")


def test_two_chat_models_for_one_server_do_not_share_a_dead_loops_connection(keep_alive_server):
    # langchain-openai's default pool is per base URL, not per model object: this is the test-suite case.
    asyncio.run(local_chat_model(keep_alive_server, model="fake").ainvoke("hi"))
    reply = asyncio.run(local_chat_model(keep_alive_server, model="fake").ainvoke("hi"))
    assert reply.content == "hello"


def test_a_completions_model_answers_in_one_event_loop_after_another(keep_alive_server):
    llm = local_completion_model(keep_alive_server, model="fake")
    assert [asyncio.run(llm.ainvoke("hi")) for _ in range(2)] == ["hello", "hello"]


def test_calls_in_one_loop_reuse_their_connection_and_a_new_loop_opens_its_own(server):
    # One pool per loop, not one connection per request: keep-alive still works inside a loop.
    llm = local_chat_model(server.url, model="fake")

    async def three_calls() -> None:
        for _ in range(3):
            await llm.ainvoke("hi")

    asyncio.run(three_calls())
    assert server.handler.connections == 1
    asyncio.run(three_calls())
    assert server.handler.connections == 2
