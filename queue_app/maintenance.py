"""Periodic upkeep run by the scheduler process: reconcile rows with Redis, recover crashed tasks."""

from __future__ import annotations

import logging

logger = logging.getLogger(__name__)


def on_scheduler_cycle() -> None:
    """Called once per scheduler cycle. Filled in by the resilience work (reconcile, crash sweep)."""
