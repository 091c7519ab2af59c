"""Stand-ins for Slack incoming webhooks, the Telegram Bot API and webhook receivers, inside the sandbox.

They record what they got (GET /__sandbox__/notifications) and answer like the real services:
- POST /slack/<anything>            Slack incoming webhook: 200 "ok"; 400 "invalid_payload" without text.
- POST /bot<token>/sendMessage      Telegram: {"ok": true, "result": {...}}; 400 when chat_id/text missing or the
                                    HTML does not parse (unbalanced tags), like Telegram's "can't parse entities".
- POST /hooks/<anything>            a webhook receiver: 200 {"received": true}.
Failures for tests: POST /__sandbox__/notifications/fail {"path_prefix": "/slack/", "status": 429,
"times": 2, "retry_after": 3, "message": "..."} makes the next `times` requests under that prefix answer `status`
(with Retry-After on 429). POST /__sandbox__/notifications/reset forgets everything.
GET /__sandbox__/notifications/<id>/preview renders a recorded Slack message as HTML (for a screenshot).
"""

from __future__ import annotations

import html
import json
import re
import threading
import time
from dataclasses import dataclass, field
from html.parser import HTMLParser

TELEGRAM_PATH = re.compile(r"^/bot(?P<token>[^/]+)/sendMessage$")
TELEGRAM_TAGS = {"b", "strong", "i", "em", "u", "ins", "s", "strike", "del", "a", "code", "pre", "span", "tg-spoiler"}


@dataclass
class Receivers:
    received: list[dict] = field(default_factory=list)
    failures: list[dict] = field(default_factory=list)  # {"path_prefix", "status", "times", "retry_after", "message"}
    lock: threading.RLock = field(default_factory=threading.RLock)

    def reset(self) -> None:
        with self.lock:
            self.received.clear()
            self.failures.clear()

    def handles(self, path: str) -> bool:
        return path.startswith(("/slack/", "/hooks/")) or bool(TELEGRAM_PATH.match(path))

    def _injected_failure(self, path: str) -> dict | None:
        with self.lock:
            for failure in self.failures:
                if path.startswith(failure["path_prefix"]) and failure["times"] > 0:
                    failure["times"] -= 1
                    return dict(failure)
        return None

    def handle(self, path: str, headers: dict, body: bytes) -> tuple[str, list[tuple[str, str]], bytes]:
        """(status line, headers, body) for one request to a receiver."""
        record = {
            "id": None,
            "path": path,
            "kind": "slack" if path.startswith("/slack/") else "webhook" if path.startswith("/hooks/") else "telegram",
            "headers": headers,
            "body": body.decode(errors="replace"),
            "received_at": time.time(),
        }
        try:
            record["json"] = json.loads(body or b"null")
        except ValueError:
            record["json"] = None
        failure = self._injected_failure(path)
        if failure is not None:
            record["answered"] = failure["status"]
            self._record(record)
            return self._failure_reply(record["kind"], failure)
        status, reply = self._answer(record)
        record["answered"] = int(status.split()[0])
        self._record(record)
        if record["kind"] == "slack":
            return status, [("Content-Type", "text/plain; charset=utf-8")], reply.encode()
        return status, [("Content-Type", "application/json")], json.dumps(reply).encode()

    def _record(self, record: dict) -> None:
        with self.lock:
            record["id"] = len(self.received) + 1
            self.received.append(record)

    @staticmethod
    def _failure_reply(kind: str, failure: dict) -> tuple[str, list[tuple[str, str]], bytes]:
        code = int(failure["status"])
        reasons = {429: "Too Many Requests", 500: "Internal Server Error", 503: "Service Unavailable"}
        status = f"{code} {reasons.get(code, 'Error')}"
        headers = []
        message = failure.get("message") or reasons.get(code, "error")
        if code == 429 and failure.get("retry_after") is not None:
            headers.append(("Retry-After", str(failure["retry_after"])))
        if kind == "telegram":
            body = {"ok": False, "error_code": code, "description": message}
            if code == 429 and failure.get("retry_after") is not None:
                body["parameters"] = {"retry_after": failure["retry_after"]}
            return status, [*headers, ("Content-Type", "application/json")], json.dumps(body).encode()
        return status, [*headers, ("Content-Type", "text/plain; charset=utf-8")], message.encode()

    def _answer(self, record: dict) -> tuple[str, object]:
        data = record["json"]
        if record["kind"] == "slack":
            if not isinstance(data, dict) or not data.get("text"):
                return "400 Bad Request", "invalid_payload"
            return "200 OK", "ok"
        if record["kind"] == "webhook":
            return "200 OK", {"received": True}
        if not isinstance(data, dict) or not data.get("chat_id") or not data.get("text"):
            empty = "Bad Request: message text is empty"
            return "400 Bad Request", {"ok": False, "error_code": 400, "description": empty}
        if data.get("parse_mode") == "HTML":
            problem = _telegram_html_problem(str(data["text"]))
            if problem:
                return "400 Bad Request", {
                    "ok": False,
                    "error_code": 400,
                    "description": f"Bad Request: can't parse entities: {problem}",
                }
        result = {"message_id": len(self.received) + 1, "chat": {"id": data["chat_id"]}, "text": data["text"]}
        return "200 OK", {"ok": True, "result": result}

    def preview(self, record_id: int) -> str | None:
        """A recorded Slack message rendered roughly as Slack shows it (mrkdwn to HTML)."""
        with self.lock:
            record = next((r for r in self.received if r["id"] == record_id), None)
        if record is None or not isinstance(record.get("json"), dict):
            return None
        return _slack_preview(str(record["json"].get("text", "")))


class _TelegramHTMLCheck(HTMLParser):
    """Telegram accepts a few tags, balanced, and entities; anything else is "can't parse entities"."""

    def __init__(self):
        super().__init__(convert_charrefs=False)
        self.stack: list[str] = []
        self.problem = ""

    def handle_starttag(self, tag, attrs):
        if tag not in TELEGRAM_TAGS:
            self.problem = self.problem or f'unsupported start tag "{tag}"'
        self.stack.append(tag)

    def handle_endtag(self, tag):
        if not self.stack or self.stack[-1] != tag:
            self.problem = self.problem or f'can\'t find end tag corresponding to start tag "{tag}"'
        else:
            self.stack.pop()


def _telegram_html_problem(text: str) -> str:
    if re.search(r"<(?![a-zA-Z/])", text) or re.search(r"&(?!(amp|lt|gt|quot|#\d+|#x[0-9a-fA-F]+);)", text):
        return "unescaped '<' or '&'"
    checker = _TelegramHTMLCheck()
    checker.feed(text)
    checker.close()
    if checker.stack and not checker.problem:
        return f'unclosed tag "{checker.stack[-1]}"'
    return checker.problem


def _slack_preview(text: str) -> str:
    """Slack mrkdwn (already &-escaped by the sender) to HTML: links, *bold*, line breaks."""

    def link(match: re.Match) -> str:
        url, _, label = match.group(1).partition("|")
        return f'<a href="{html.escape(html.unescape(url))}">{label or url}</a>'

    body = re.sub(r"<([^<>]+)>", link, text)  # the sender escaped every other < and >
    body = re.sub(r"\*([^*\n]+)\*", r"<b>\1</b>", body)
    body = body.replace("\n", "<br>")
    return (
        "<!doctype html><html><head><meta charset='utf-8'><title>Slack message preview</title><style>"
        "body{font-family:Lato,Helvetica,Arial,sans-serif;background:#f8f8f8;margin:0;padding:24px}"
        ".msg{background:#fff;border:1px solid #ddd;border-radius:8px;max-width:640px;padding:16px;"
        "display:flex;gap:12px}"
        ".avatar{width:36px;height:36px;border-radius:4px;background:#4a154b;color:#fff;font-weight:bold;"
        "display:flex;align-items:center;justify-content:center}.who{font-weight:900}.app{font-size:11px;"
        "background:#eee;border-radius:3px;padding:1px 4px;margin-left:4px;color:#555}.text{line-height:1.5;"
        "font-size:15px;color:#1d1c1d}a{color:#1264a3;text-decoration:none}</style></head><body>"
        "<div class='msg'><div class='avatar'>UA</div><div><div><span class='who'>Upwork Automation</span>"
        f"<span class='app'>APP</span></div><div class='text' data-test='slack-text'>{body}</div></div></div>"
        "</body></html>"
    )
