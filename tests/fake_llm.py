"""A small OpenAI-compatible chat server for tests (stdlib only, 127.0.0.1, a free port).

It answers ``POST /v1/chat/completions`` like a real endpoint and counts requests. Its
behaviour comes, in this order, from a scripted queue (:meth:`FakeLLM.enqueue`), from
markers in the requested model name, or from the default reply, which reads the prompt:

* a zero-shot labeling prompt gets a JSON list of labels (1 for spam-looking rows, else 0);
* a stage-one prompt gets a short paragraph of supplementary information;
* a code or repair prompt gets one of :data:`PROGRAMS` (``seed % len(PROGRAMS)``), plausible
  spam-vs-ham programs (class 0 = ham, 1 = spam).

Model-name markers: ``fail500`` (HTTP 500 every time), ``hang`` (never answers in time),
``slow`` (answers after 0.2 s), ``nousage`` (no ``usage`` in the body), ``auth401`` (HTTP 401
whose message echoes the Authorization header, as real servers echo part of a bad key).

Usage is deterministic: ``prompt_tokens`` = characters of all messages // 4,
``completion_tokens`` = characters of the reply // 4.

Use the ``fake_llm`` fixture: ``from tests.fake_llm import fake_llm``.
"""

from __future__ import annotations

import json
import re
import threading
import time
from collections import deque
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest


@dataclass(frozen=True)
class Reply:
    """Answer 200 with ``text`` as the assistant message."""

    text: str
    usage: bool = True


@dataclass(frozen=True)
class Fail:
    """Answer with an HTTP error ``status`` (optionally with ``Retry-After``)."""

    status: int
    retry_after: str | None = None
    message: str = "scripted failure"
    echo_auth: bool = False


@dataclass(frozen=True)
class Hang:
    """Answer only after ``seconds`` (longer than the client's timeout)."""

    seconds: float = 5.0


@dataclass(frozen=True)
class Malformed:
    """Answer 200 with ``body``: by default truncated JSON."""

    body: bytes = b'{"id": "chatcmpl-fake", "choices": [{"message": '


OK = "ok"
"""The default, prompt-aware reply."""

_PROGRAM_0 = '''import re

def label(x):
    """Spam asks viewers to check out or subscribe to a channel."""
    text = (x["text"] or "").lower()
    if re.search(r"check (it )?out|subscribe", text):
        return 1
    if "song" in text:
        return 0
    return -1
'''

_PROGRAM_1 = '''import re

URL = re.compile(r"https?://|www\\.")

def label(x):
    """Links are spam."""
    text = x["text"] or ""
    return 1 if URL.search(text) else -1
'''

_PROGRAM_2 = '''def label(x):
    """Shouting and exclamation marks are spam; calm short comments are ham."""
    text = x["text"] or ""
    if text.count("!") >= 2:
        return 1
    if 0 < len(text) < 35:
        return 0
    return -1
'''

_PROGRAM_3 = '''def label(x):
    """Comments about the music are ham."""
    text = (x["text"] or "").lower()
    for word in ("love", "voice", "memories", "beautiful"):
        if word in text:
            return 0
    return -1
'''

_PROGRAM_4 = '''import re

def label(x):
    """Free prizes and 'my channel' are spam."""
    text = (x["text"] or "").lower()
    if re.search(r"\\bfree\\b|\\bwin\\b|my channel", text):
        return 1
    return -1
'''

_PROGRAM_5 = '''from collections import Counter

def label(x):
    """Many capitalised words suggest spam; a year suggests a nostalgic (ham) comment."""
    text = x["text"] or ""
    words = text.split()
    capitals = Counter(w[0].isupper() for w in words if w)
    if capitals[True] >= 4:
        return 1
    if any(w.isdigit() and len(w) == 4 for w in words):
        return 0
    return -1
'''

PROGRAMS = tuple(f"Here is a labeling program.\n\n```python\n{p}```\n" for p in (
    _PROGRAM_0, _PROGRAM_1, _PROGRAM_2, _PROGRAM_3, _PROGRAM_4, _PROGRAM_5,
))  # fmt: skip

NO_CODE = Reply("I am sorry, but I cannot write code. Spam comments usually contain links.")
BROKEN = Reply("```python\ndef label(x)\n    return 1\n```")
HOSTILE = Reply("```python\nimport os\n\ndef label(x):\n    return len(os.listdir('.')) % 2\n```")

SPAM_WORDS = ("check out", "subscribe", "http", "www.", "free", "my channel")


def spam_rule(text: str) -> int:
    """The label the default annotation reply gives a row."""
    lowered = text.lower()
    return 1 if any(word in lowered for word in SPAM_WORDS) else 0


class _Server(ThreadingHTTPServer):
    daemon_threads = True

    def handle_error(self, request: Any, client_address: Any) -> None:
        # A client that timed out closes its socket; the late write fails. Not a test failure.
        pass


class FakeLLM:
    """An OpenAI-compatible chat server on 127.0.0.1 with scripted behaviours."""

    def __init__(self) -> None:
        self.script: deque[Any] = deque()
        self.requests: list[dict[str, Any]] = []
        self.max_in_flight = 0
        self._in_flight = 0
        self._lock = threading.Lock()
        self._stopping = threading.Event()
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None

    # -- lifecycle -------------------------------------------------------------------------------
    def start(self) -> "FakeLLM":
        self._server = _Server(("127.0.0.1", 0), _handler_for(self))
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.02}, name="fake-llm", daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stopping.set()
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()

    @property
    def url(self) -> str:
        assert self._server is not None, "start() the server first"
        return f"http://127.0.0.1:{self._server.server_address[1]}/v1"

    @property
    def request_count(self) -> int:
        with self._lock:
            return len(self.requests)

    def enqueue(self, *behaviours: Any) -> None:
        """Script the next behaviours: ``OK``, :class:`Reply`, :class:`Fail`, :class:`Hang` or :class:`Malformed`."""
        with self._lock:
            self.script.extend(behaviours)

    def requests_with(self, text: str) -> list[dict[str, Any]]:
        """Requests whose messages contain ``text``."""
        with self._lock:
            return [r for r in self.requests if any(text in m["content"] for m in r["body"]["messages"])]

    # -- behaviour -------------------------------------------------------------------------------
    def _behaviour(self, body: dict[str, Any]) -> Any:
        with self._lock:
            if self.script:
                return self.script.popleft()
        model = str(body.get("model", ""))
        if "fail500" in model:
            return Fail(500, message="the server is on fire")
        if "auth401" in model:
            return Fail(401, echo_auth=True)
        if "hang" in model:
            return Hang()
        return OK

    def default_reply(self, body: dict[str, Any]) -> str:
        messages = body["messages"]
        last = messages[-1]["content"]
        if "Reply with only a JSON list" in last:
            rows = re.findall(r"^Row \d+: (.*)$", last, flags=re.MULTILINE)
            return json.dumps([spam_rule(row) for row in rows])
        if "do not write code" in last:
            return (
                "Spam comments ask viewers to check out a channel, subscribe, or visit a link "
                "(http, www). Ham comments talk about the song, the voice or memories."
            )
        seed = body.get("seed") or 0
        return PROGRAMS[int(seed) % len(PROGRAMS)]


def _completion_body(body: dict[str, Any], text: str, *, usage: bool) -> dict[str, Any]:
    prompt_chars = sum(len(m["content"]) for m in body["messages"])
    result: dict[str, Any] = {
        "id": "chatcmpl-fake",
        "object": "chat.completion",
        "created": int(time.time()),
        "model": body.get("model", "fake"),
        "choices": [{"index": 0, "message": {"role": "assistant", "content": text}, "finish_reason": "stop"}],
    }
    if usage:
        result["usage"] = {
            "prompt_tokens": prompt_chars // 4,
            "completion_tokens": len(text) // 4,
            "total_tokens": prompt_chars // 4 + len(text) // 4,
        }
    return result


def _handler_for(fake: FakeLLM) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, format: str, *args: Any) -> None:
            pass

        def send_json(self, status: int, payload: Any, headers: dict[str, str] | None = None) -> None:
            data = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            for key, value in (headers or {}).items():
                self.send_header(key, value)
            self.end_headers()
            self.wfile.write(data)

        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length", 0))
            body = json.loads(self.rfile.read(length) or b"{}")
            if not self.path.rstrip("/").endswith("/chat/completions"):
                self.send_json(404, {"error": {"message": f"no route {self.path}"}})
                return
            with fake._lock:
                fake.requests.append({"body": body, "headers": {k.lower(): v for k, v in self.headers.items()}})
                fake._in_flight += 1
                fake.max_in_flight = max(fake.max_in_flight, fake._in_flight)
            try:
                self.answer(body)
            except (BrokenPipeError, ConnectionResetError):
                pass
            finally:
                with fake._lock:
                    fake._in_flight -= 1

        def answer(self, body: dict[str, Any]) -> None:
            behaviour = fake._behaviour(body)
            model = str(body.get("model", ""))
            if isinstance(behaviour, Hang):
                fake._stopping.wait(behaviour.seconds)
                behaviour = OK
            if "slow" in model:
                time.sleep(0.2)
            if isinstance(behaviour, Fail):
                message = behaviour.message
                if behaviour.echo_auth:
                    message = f"Incorrect API key provided: {self.headers.get('Authorization', '')}"
                headers = {"Retry-After": behaviour.retry_after} if behaviour.retry_after else {}
                self.send_json(behaviour.status, {"error": {"message": message, "type": "fake"}}, headers)
            elif isinstance(behaviour, Malformed):
                self.send_json(200, behaviour.body)
            elif isinstance(behaviour, Reply):
                self.send_json(200, _completion_body(body, behaviour.text, usage=behaviour.usage))
            else:
                text = fake.default_reply(body)
                self.send_json(200, _completion_body(body, text, usage="nousage" not in model))

    return Handler


@pytest.fixture
def fake_llm():
    """A started :class:`FakeLLM`, stopped after the test."""
    server = FakeLLM().start()
    try:
        yield server
    finally:
        server.stop()
