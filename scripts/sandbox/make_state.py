"""Log in to the sandbox and write a Playwright storage state file for `manage.py jobs import-session`.

    python -m scripts.sandbox.make_state --url http://127.0.0.1:8765 --out sandbox-state.json

Only for the sandbox: for Upwork, log in yourself in a browser and export the state with Playwright.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from urllib.parse import urlparse

import requests

from scripts.sandbox.server import DEMO_PASSWORD, DEMO_USERNAME, LOGIN_PATH, SESSION_COOKIE, storage_state_for


def sandbox_storage_state(base_url: str) -> dict:
    """Post the sandbox's demo login form and turn the session cookie into a storage state."""
    with requests.Session() as http:
        response = http.post(
            f"{base_url.rstrip('/')}{LOGIN_PATH}",
            data={"username": DEMO_USERNAME, "password": DEMO_PASSWORD},
            allow_redirects=False,
            timeout=10,
        )
        value = response.cookies.get(SESSION_COOKIE)
        if response.status_code != 302 or not value:
            raise SystemExit(f"Sandbox login failed (HTTP {response.status_code}); is the sandbox at {base_url}?")
    return storage_state_for(value, host=urlparse(base_url).hostname or "127.0.0.1")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--url", default="http://127.0.0.1:8765")
    parser.add_argument("--out", default="sandbox-state.json")
    args = parser.parse_args(argv)
    Path(args.out).write_text(json.dumps(sandbox_storage_state(args.url), indent=2))
    print(f"Wrote {args.out}; import it with: python manage.py jobs import-session --file {args.out} --name sandbox")


if __name__ == "__main__":
    main()
