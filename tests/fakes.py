"""Protocol-level fakes for what cannot exist here: an OpenAI-compatible LLM/embeddings server on loopback."""

from __future__ import annotations

import hashlib
import json
import threading
import time
from collections import deque
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Self


class LoopbackServer:
    """A threaded HTTP server on a free 127.0.0.1 port, used as a context manager by the fakes below."""

    path_prefix = ""

    def _serve(self, handler: type[BaseHTTPRequestHandler]) -> None:
        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        # A short poll interval: shutdown() waits for it, and the tests start many servers.
        self.thread = threading.Thread(
            target=self.httpd.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True
        )

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.httpd.server_address[1]}{self.path_prefix}"

    def __enter__(self) -> Self:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


class ScriptedOpenAIServer(LoopbackServer):
    """Answers /v1/chat/completions from a script and /v1/embeddings with hashed vectors.

    Each script step is a dict: {"reply": text} (streams too when the client asks), {"sleep": seconds},
    {"garbage": True} (not JSON), {"status": 500}; with "piece_delay": seconds a streamed reply is sent
    slowly. The last step repeats. Requests are recorded; `aborted` counts streams the client closed early.
    """

    def __init__(self, script: list[dict[str, Any]] | None = None, dim: int = 32) -> None:
        self.path_prefix = "/v1"
        self.script: deque[dict[str, Any]] = deque(script or [{"reply": "ok"}])
        self.requests: list[dict[str, Any]] = []
        self.dim = dim
        self.aborted = 0
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: object) -> None:
                pass

            def do_POST(self) -> None:  # noqa: N802 - http.server API
                length = int(self.headers.get("Content-Length") or 0)
                body = json.loads(self.rfile.read(length) or b"{}")
                outer.requests.append(
                    {"path": self.path, "body": body, "auth": self.headers.get("Authorization")}
                )
                if self.path.endswith("/embeddings"):
                    return outer._embeddings(self, body)
                step = outer.script[0] if len(outer.script) == 1 else outer.script.popleft()
                return outer._chat(self, body, step)

        self._serve(Handler)

    def chat_requests(self) -> list[dict[str, Any]]:
        return [r for r in self.requests if r["path"].endswith("/chat/completions")]

    def _send(self, handler: BaseHTTPRequestHandler, status: int, payload: bytes, ctype: str) -> None:
        handler.send_response(status)
        handler.send_header("Content-Type", ctype)
        handler.send_header("Content-Length", str(len(payload)))
        handler.end_headers()
        handler.wfile.write(payload)

    def _embeddings(self, handler: BaseHTTPRequestHandler, body: dict[str, Any]) -> None:
        inputs = body["input"] if isinstance(body["input"], list) else [body["input"]]
        data = []
        for i, text in enumerate(inputs):
            digest = hashlib.sha256(text.encode()).digest()
            data.append({"index": i, "embedding": [b / 255 for b in digest[: self.dim]]})
        self._send(
            handler, 200, json.dumps({"data": data, "model": body.get("model")}).encode(), "application/json"
        )

    def _chat(self, handler: BaseHTTPRequestHandler, body: dict[str, Any], step: dict[str, Any]) -> None:
        if "sleep" in step:
            time.sleep(step["sleep"])
        if step.get("garbage"):
            return self._send(handler, 200, b"<html>definitely not json", "text/html")
        if "status" in step:
            return self._send(
                handler, step["status"], b'{"error": {"message": "scripted failure"}}', "application/json"
            )
        reply = step.get("reply", "")
        if not body.get("stream"):
            payload = {
                "id": "chatcmpl-test",
                "object": "chat.completion",
                "model": body.get("model"),
                "choices": [
                    {"index": 0, "message": {"role": "assistant", "content": reply}, "finish_reason": "stop"}
                ],
                "usage": {"prompt_tokens": 10, "completion_tokens": 5, "total_tokens": 15},
            }
            return self._send(handler, 200, json.dumps(payload).encode(), "application/json")
        handler.send_response(200)
        handler.send_header("Content-Type", "text/event-stream")
        handler.end_headers()
        for i in range(0, len(reply), 7):
            event = {"choices": [{"index": 0, "delta": {"content": reply[i : i + 7]}}]}
            try:
                handler.wfile.write(f"data: {json.dumps(event)}\n\n".encode())
                handler.wfile.flush()
            except OSError:  # the client hung up: a real server stops generating here
                self.aborted += 1
                return
            time.sleep(step.get("piece_delay", 0))
        if (body.get("stream_options") or {}).get("include_usage"):
            usage = {"prompt_tokens": 10, "completion_tokens": 5, "total_tokens": 15}
            handler.wfile.write(f"data: {json.dumps({'choices': [], 'usage': usage})}\n\n".encode())
        handler.wfile.write(b"data: [DONE]\n\n")
        handler.wfile.flush()
