"""The sandbox's Slack, Telegram and webhook stand-ins: they record, answer like the services, fail on request."""

from __future__ import annotations

import requests

from tests.notifications.conftest import received


def test_receivers_record_answer_and_fail_on_request(receiver_server):
    url = receiver_server.url
    requests.post(f"{url}/__sandbox__/notifications/reset", timeout=5).raise_for_status()
    assert requests.post(f"{url}/slack/T/B/X", json={"text": "hi"}, timeout=5).text == "ok"
    assert requests.post(f"{url}/slack/T/B/X", json={}, timeout=5).status_code == 400  # Slack's invalid_payload
    bad = requests.post(f"{url}/bot1:abc/sendMessage", json={"chat_id": "1"}, timeout=5)
    assert bad.status_code == 400 and bad.json()["ok"] is False
    assert requests.post(f"{url}/hooks/x", data=b"raw", timeout=5).json() == {"received": True}
    rule = {"path_prefix": "/hooks/", "status": 429, "times": 2, "retry_after": 3}
    requests.post(f"{url}/__sandbox__/notifications/fail", json=rule, timeout=5).raise_for_status()
    limited = [requests.post(f"{url}/hooks/x", data=b"{}", timeout=5) for _ in range(3)]
    assert [r.status_code for r in limited] == [429, 429, 200]
    assert limited[0].headers["Retry-After"] == "3"
    records = received(receiver_server)
    assert [r["kind"] for r in records[:4]] == ["slack", "slack", "telegram", "webhook"]
    assert records[3]["body"] == "raw" and [r["answered"] for r in records[-3:]] == [429, 429, 200]
    assert requests.post(f"{url}/__sandbox__/notifications/fail", json={}, timeout=5).status_code == 400
    assert requests.get(f"{url}/__sandbox__/notifications/999/preview", timeout=5).status_code == 404
    assert ">hi</div>" in requests.get(f"{url}/__sandbox__/notifications/1/preview", timeout=5).text
    requests.post(f"{url}/__sandbox__/notifications/reset", timeout=5)
    assert received(receiver_server) == []
