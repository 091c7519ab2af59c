"""Who acts: one value for the user, the channel (API, admin, CLI, scheduler, system) and the address.

Every service that writes takes it as a keyword-only `actor: Actor` and hands it on to the audit log;
views, admin actions and commands build it with one of the constructors below, never by hand.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from django.db import models


class Source(models.TextChoices):
    """The channel an action came in by (also a task's origin, queue_app.models.TaskSource)."""

    API = "api", "API"
    CLI = "cli", "CLI"
    ADMIN = "admin", "Admin"
    SCHEDULER = "scheduler", "Scheduler"
    SYSTEM = "system", "System"


def client_ip(request) -> str | None:
    """The client's address for the audit log: REMOTE_ADDR (the proxy in front must pass the real one)."""
    return request.META.get("REMOTE_ADDR") or None


@dataclass(frozen=True, slots=True)
class Actor:
    """The person (or the system) behind a write: `user` (None for the system), `source`, `remote_addr`."""

    user: Any = None
    source: str = Source.SYSTEM
    remote_addr: str | None = None
    name: str = ""  # what the system part is ("scheduler", "reconcile"...), for logs; not stored

    @classmethod
    def from_request(cls, request) -> Actor:
        """An API request's user and address."""
        return cls(user=request.user, source=Source.API, remote_addr=client_ip(request))

    @classmethod
    def admin(cls, request) -> Actor:
        """An admin page's user and address."""
        return cls(user=request.user, source=Source.ADMIN, remote_addr=client_ip(request))

    @classmethod
    def cli(cls, user=None) -> Actor:
        """A person at a terminal (`manage.py ...`), named when the command knows who."""
        return cls(user=user, source=Source.CLI)

    @classmethod
    def scheduler(cls) -> Actor:
        """The scheduler firing a schedule."""
        return cls(source=Source.SCHEDULER, name="scheduler")

    @classmethod
    def system(cls, name: str = "system") -> Actor:
        """The application itself: a task handler, a maintenance job, a post_migrate hook."""
        return cls(source=Source.SYSTEM, name=name)

    @property
    def authenticated_user(self):
        """The user when there is a signed-in one, else None (an anonymous user is nobody)."""
        user = self.user
        return user if user is not None and getattr(user, "is_authenticated", False) else None


SYSTEM = Actor.system()
