"""Database helpers for long-lived worker processes."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import TypeVar

from django.db import connections
from django.db.utils import InterfaceError, OperationalError

logger = logging.getLogger(__name__)
T = TypeVar("T")


def run_with_reconnect(
    operation: Callable[[], T], *, attempts: int = 30, delay: float = 0.5, alias: str = "default"
) -> T:
    """Run a single autocommit statement; on a broken connection reconnect and run it again.

    Only for statements that are safe to repeat (the conditional updates of the task
    lifecycle are: their WHERE clause makes a second run a no-op).
    """
    for attempt in range(1, attempts + 1):
        try:
            return operation()
        except (OperationalError, InterfaceError) as error:
            conn = connections[alias]
            if conn.in_atomic_block or attempt == attempts:
                raise
            logger.warning("Database unavailable (%s); reconnecting, try %d/%d", error, attempt, attempts)
            conn.close()
            time.sleep(min(delay * attempt, 5.0))
    raise AssertionError("unreachable")
