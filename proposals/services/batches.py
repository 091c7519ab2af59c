"""Batches: drafting proposals for many jobs at once."""

from __future__ import annotations

import logging
from typing import Any

from django.conf import settings
from django.utils import timezone

from core.actor import SYSTEM, Actor
from proposals import selectors
from proposals.services.common import _generator

logger = logging.getLogger(__name__)


def proposals_batch_generate(
    *,
    job_ids: list[int] | None = None,
    limit: int | None = None,
    min_score: int | None = None,
    profile_id: int | None = None,
    generator: str | None = None,
    actor: Actor = SYSTEM,
) -> dict:
    """Fan out generate_proposal for jobs needing one, within the concurrency cap and the daily cost cap.

    The cap counts generate_proposal tasks still waiting or running, so hourly runs never pile up.
    Returns the progress: candidates, what was enqueued, and what stopped the run early.
    """
    from queue_app.models import WAITING_STATUSES, Task, TaskStatus
    from queue_app.services import EnqueueRequest, task_enqueue_many

    generator = _generator(generator)
    min_score = settings.PROPOSAL_BATCH_MIN_SCORE if min_score is None else min_score
    cap = settings.PROPOSAL_BATCH_CONCURRENCY
    if limit is not None:
        cap = min(limit, cap)
    needing = selectors.jobs_needing_proposals(min_score=min_score, job_ids=job_ids)
    candidates = list(needing.values_list("id", flat=True))
    unfinished = [*WAITING_STATUSES, TaskStatus.PROCESSING]
    in_flight = Task.objects.filter(task_type="generate_proposal", status__in=unfinished).count()
    slots = max(cap - in_flight, 0)
    progress: dict[str, Any] = {
        "generator": generator,
        "candidates": len(candidates),
        "in_flight_before": in_flight,
        "concurrency_cap": cap,
        "enqueued": 0,
        "already_enqueued": 0,
        "task_ids": [],
        "job_ids": [],
        "remaining": 0,
        "stopped_by": None,
    }
    if generator == "openai":
        cost_cap = settings.OPENAI_DAILY_COST_CAP_USD
        spent = selectors.openai_spent_today()
        progress["cost"] = {"spent_today": str(spent), "daily_cap": str(cost_cap)}
        if spent >= cost_cap:
            progress["stopped_by"] = "cost_cap"
            progress["remaining"] = len(candidates)
            logger.info("Batch generation stopped: daily OpenAI cost cap $%s reached ($%s spent)", cost_cap, spent)
            return progress
        average = selectors.average_generation_cost()
        if average > 0:
            affordable = int((cost_cap - spent) / average)
            progress["cost"]["affordable"] = affordable
            if affordable < slots:
                slots = affordable
                progress["stopped_by"] = "cost_cap" if affordable < len(candidates) else None
    chosen = candidates[:slots]
    if len(candidates) > len(chosen) and progress["stopped_by"] is None:
        progress["stopped_by"] = "concurrency_cap"
    payload_extra: dict[str, Any] = {"generator": generator}
    if profile_id is not None:
        payload_extra["profile_id"] = profile_id
    requests = [
        EnqueueRequest(
            task_type="generate_proposal",
            payload={"job_id": job_id, **payload_extra},
            # The same key as discovery's hand-off: a job is never drafted twice by two routes.
            idempotency_key=f"generate_proposal:job:{job_id}",
        )
        for job_id in chosen
    ]
    if requests:
        before = timezone.now()
        tasks = task_enqueue_many(requests=requests, actor=actor)
        fresh = [task for task in tasks if task.created_at >= before]
        progress["enqueued"] = len(fresh)
        progress["already_enqueued"] = len(tasks) - len(fresh)
        progress["task_ids"] = [str(task.id) for task in tasks]
        progress["job_ids"] = chosen
    progress["remaining"] = len(candidates) - len(chosen)
    return progress
