"""A local server that speaks OpenAI's chat completions protocol, for tests: it records
every request and answers from a script (a reply, an HTTP error, or a slow reply)."""

from __future__ import annotations

import json
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


@dataclass
class Step:
    status: int = 200
    text: str = "Local model answer."
    delay: float = 0.0
    prompt_tokens: int = 120
    completion_tokens: int = 30


@dataclass
class ChatServer:
    requests: list[dict[str, Any]] = field(default_factory=list)
    script: list[Step] = field(default_factory=list)
    default: Step = field(default_factory=Step)

    def __post_init__(self) -> None:
        server = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: object) -> None:
                del args

            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = json.loads(self.rfile.read(length) or b"{}")
                server.requests.append(
                    {"path": self.path, "headers": dict(self.headers), "body": body}
                )
                step = server.script.pop(0) if server.script else server.default
                if step.delay:
                    time.sleep(step.delay)
                if step.status != 200:
                    payload: dict[str, Any] = {
                        "error": {"message": f"scripted {step.status}", "type": "server_error"}
                    }
                else:
                    payload = {
                        "id": f"chatcmpl-{len(server.requests)}",
                        "object": "chat.completion",
                        "created": int(time.time()),
                        "model": body.get("model", "unknown"),
                        "choices": [
                            {
                                "index": 0,
                                "message": {"role": "assistant", "content": step.text},
                                "finish_reason": "stop",
                            }
                        ],
                        "usage": {
                            "prompt_tokens": step.prompt_tokens,
                            "completion_tokens": step.completion_tokens,
                            "total_tokens": step.prompt_tokens + step.completion_tokens,
                        },
                    }
                data = json.dumps(payload).encode()
                try:
                    self.send_response(step.status)
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", str(len(data)))
                    self.end_headers()
                    self.wfile.write(data)
                except (BrokenPipeError, ConnectionResetError):
                    pass  # the client gave up (a timeout test)

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}/v1"

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
