"""What a message says, once per event (Message), and how each channel writes it: Slack mrkdwn, Telegram HTML, email.

Every piece of text that comes from outside (a job's title, a client's country, an error message) is escaped for
the target format here and nowhere else: Slack mrkdwn needs & < > escaped, Telegram's HTML mode the same plus
quotes inside attributes.
"""

from __future__ import annotations

import html
from dataclasses import dataclass, field


@dataclass
class Message:
    """A channel-neutral message: a title, labelled facts, free lines, links."""

    title: str
    facts: list[tuple[str, str]] = field(default_factory=list)
    lines: list[str] = field(default_factory=list)
    links: list[tuple[str, str]] = field(default_factory=list)  # (label, url)

    def plain_text(self) -> str:
        parts = [self.title, ""]
        parts += [f"{label}: {value}" for label, value in self.facts]
        if self.lines:
            parts += ["", *self.lines]
        if self.links:
            parts += ["", *(f"{label}: {url}" for label, url in self.links)]
        return "\n".join(parts).strip() + "\n"


def build_message(*, event: str, subject: str, payload: dict) -> Message:
    """The message for one event's payload (see services.events for what each payload holds)."""
    builder = _BUILDERS.get(event, _generic)
    return builder(subject, payload)


def _job_alert(subject: str, p: dict) -> Message:
    facts = [("Score", f"{p.get('score')}/100")]
    for label, name in (
        ("Budget", "budget"),
        ("Client", "client_summary"),
        ("Proposals", "proposals"),
        ("Posted", "posted_ago"),
        ("Profile", "profile"),
    ):
        if p.get(name):
            facts.append((label, str(p[name])))
    if p.get("draft_ready"):
        facts.append(("Draft", "ready for review"))
    lines = [f"• {reason}" for reason in p.get("reasons", [])]
    links = [("Open on Upwork", p.get("url", "")), ("Shortlist / draft in the admin", p.get("admin_url", ""))]
    return Message(title=subject, facts=facts, lines=lines, links=[link for link in links if link[1]])


def _generic(subject: str, p: dict) -> Message:
    facts = [(str(label), str(value)) for label, value in p.get("facts", [])]
    lines = [str(line) for line in p.get("lines", [])]
    links = [(str(label), str(url)) for label, url in p.get("links", [])]
    return Message(title=subject, facts=facts, lines=lines, links=links)


_BUILDERS = {"job_alert": _job_alert}


# --- Slack mrkdwn -----------------------------------------------------------------


def slack_escape(text: str) -> str:
    """Slack's three control characters; everything else is sent as is."""
    return str(text).replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _slack_link(label: str, url: str) -> str:
    # Inside <url|label> a '|' or '>' would end the link early: the URL keeps only safe characters.
    safe_url = slack_escape(url).replace("|", "%7C")
    return f"<{safe_url}|{slack_escape(label).replace('|', '¦')}>"


def slack_text(message: Message) -> str:
    parts = [f"*{slack_escape(message.title)}*"]
    parts += [f"*{slack_escape(label)}:* {slack_escape(value)}" for label, value in message.facts]
    parts += [slack_escape(line) for line in message.lines]
    if message.links:
        parts.append(" · ".join(_slack_link(label, url) for label, url in message.links))
    return "\n".join(parts)


def slack_body(message: Message) -> dict:
    text = slack_text(message)
    return {"text": text, "blocks": [{"type": "section", "text": {"type": "mrkdwn", "text": text[:3000]}}]}


# --- Telegram HTML -----------------------------------------------------------------


def telegram_escape(text: str) -> str:
    return html.escape(str(text), quote=False)


def telegram_html(message: Message) -> str:
    parts = [f"<b>{telegram_escape(message.title)}</b>"]
    parts += [f"<b>{telegram_escape(label)}:</b> {telegram_escape(value)}" for label, value in message.facts]
    parts += [telegram_escape(line) for line in message.lines]
    if message.links:
        parts.append(
            " · ".join(
                f'<a href="{html.escape(url, quote=True)}">{telegram_escape(label)}</a>' for label, url in message.links
            )
        )
    return "\n".join(parts)[:4096]  # Telegram's limit per message


# --- Email --------------------------------------------------------------------------


def email_html(message: Message) -> str:
    esc = html.escape
    rows = "".join(
        f"<tr><th align='left'>{esc(label)}</th><td>{esc(value)}</td></tr>" for label, value in message.facts
    )
    lines = "".join(f"<p>{esc(line)}</p>" for line in message.lines)
    links = " · ".join(f'<a href="{esc(url)}">{esc(label)}</a>' for label, url in message.links)
    return f"<h2>{esc(message.title)}</h2><table>{rows}</table>{lines}<p>{links}</p>"
