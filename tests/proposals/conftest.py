"""Fixtures for proposals: a stand-in for OpenAI's API on 127.0.0.1, a freelancer profile, a job to write for."""

from __future__ import annotations

import json
import threading
import time
from dataclasses import dataclass, field
from decimal import Decimal
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from model_bakery import baker

from jobs.models import Job, JobStatus

DEFAULT_TEXT = "Hi, I built three Django dashboards like this. Best regards, Ada"


@dataclass
class Reply:
    status: int = 200
    body: dict | None = None
    delay: float = 0.0


@dataclass
class StubState:
    requests: list[dict] = field(default_factory=list)
    replies: list[Reply] = field(default_factory=list)
    text: str = DEFAULT_TEXT
    prompt_tokens: int = 1200
    completion_tokens: int = 300
    lock: threading.Lock = field(default_factory=threading.Lock)

    def reset(self) -> None:
        with self.lock:
            self.requests.clear()
            self.replies.clear()
            self.text = DEFAULT_TEXT
            self.prompt_tokens, self.completion_tokens = 1200, 300

    def script(self, *replies: Reply) -> None:
        with self.lock:
            self.replies.extend(replies)


def error_body(message: str, kind: str = "invalid_request_error", code: str | None = None) -> dict:
    return {"error": {"message": message, "type": kind, "param": None, "code": code}}


class OpenAIStub(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self):
        super().__init__(("127.0.0.1", 0), _Handler)
        self.state = StubState()

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}/v1"


class _Handler(BaseHTTPRequestHandler):
    server: OpenAIStub

    def log_message(self, *args) -> None:  # keep pytest output quiet
        pass

    def do_POST(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length)
        state = self.server.state
        with state.lock:
            state.requests.append(
                {
                    "path": self.path,
                    "headers": {k.lower(): v for k, v in self.headers.items()},
                    "json": json.loads(raw or b"{}"),
                }
            )
            reply = state.replies.pop(0) if state.replies else Reply()
        if reply.delay:
            time.sleep(reply.delay)
        if self.path != "/v1/chat/completions":
            reply = Reply(404, error_body(f"Unknown path {self.path}"))
        body = reply.body
        if body is None:
            model = json.loads(raw or b"{}").get("model", "gpt-test")
            body = {
                "id": f"chatcmpl-{len(state.requests)}",
                "object": "chat.completion",
                "created": int(time.time()),
                "model": model,
                "choices": [
                    {
                        "index": 0,
                        "message": {"role": "assistant", "content": state.text, "refusal": None},
                        "finish_reason": "stop",
                        "logprobs": None,
                    }
                ],
                "usage": {
                    "prompt_tokens": state.prompt_tokens,
                    "completion_tokens": state.completion_tokens,
                    "total_tokens": state.prompt_tokens + state.completion_tokens,
                },
            }
        payload = json.dumps(body).encode()
        try:
            self.send_response(reply.status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)
        except (BrokenPipeError, ConnectionResetError):  # the client gave up (timeout test)
            pass


@pytest.fixture(scope="session")
def openai_server():
    server = OpenAIStub()
    thread = threading.Thread(target=server.serve_forever, name="openai-stub", daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()


@pytest.fixture
def openai_stub(openai_server, settings) -> OpenAIStub:
    """The stand-in, emptied, with the OpenAI settings pointing at it (this process only)."""
    openai_server.state.reset()
    settings.OPENAI_BASE_URL = openai_server.base_url
    settings.OPENAI_API_KEY = "test"
    settings.OPENAI_MODEL = "gpt-test"
    settings.OPENAI_TIMEOUT = 5
    settings.PROPOSAL_GENERATOR = "openai"
    settings.OPENAI_PRICE_INPUT_PER_1K = Decimal("0.001")
    settings.OPENAI_PRICE_OUTPUT_PER_1K = Decimal("0.002")
    settings.OPENAI_DAILY_COST_CAP_USD = Decimal("5")
    return openai_server


def worker_env(stub: OpenAIStub, **extra: str) -> dict[str, str]:
    """Environment for a worker process that should use the stand-in."""
    return {
        "OPENAI_BASE_URL": stub.base_url,
        "OPENAI_API_KEY": "test",
        "OPENAI_MODEL": "gpt-test",
        "OPENAI_TIMEOUT": "5",
        "PROPOSAL_GENERATOR": "openai",
        **extra,
    }


@pytest.fixture
def profile(db):
    from proposals.models import FreelancerProfile

    return baker.make(
        FreelancerProfile,
        name="Ada Lovelace",
        title="Senior Django developer",
        skills=["Django", "PostgreSQL", "Celery", "React"],
        hourly_rate="85.00",
        bio="I build Django back ends for SaaS teams. Eight years of Python. I write tests first.",
        achievements=[
            "Cut a Django admin's page load from 4 s to 0.8 s",
            "Moved a PostgreSQL database of 2 TB with no downtime",
            "Shipped a React dashboard for 40k users",
        ],
        sample_letter="Hello! Your post caught my eye because...",
        writing_rules="No bullet lists.",
        tone="warm and direct",
        is_default=True,
    )


@pytest.fixture
def job(db):
    return baker.make(
        Job,
        upwork_id="~01proposaljob",
        url="https://www.upwork.com/jobs/~01proposaljob",
        title="Django dashboard for a logistics startup",
        description=(
            "We need a Django developer to build an admin dashboard on PostgreSQL. "
            "Start your proposal with the word PINEAPPLE so we know you read this. "
            "Please answer this first: Have you built a multi-tenant Django app before?"
        ),
        job_type="hourly",
        hourly_min="40.00",
        hourly_max="90.00",
        skills=["Django", "PostgreSQL", "REST API"],
        client_country="Netherlands",
        client_payment_verified=True,
        client_total_spent="25000.00",
        client_hires=12,
        client_rating="4.90",
        client_reviews=10,
        status=JobStatus.SHORTLISTED,
        score=82,
        passed_filters=True,
    )
