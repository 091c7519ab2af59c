"""Task verbs of `manage.py queue`: enqueue, status, list, cancel, retry, cleanup."""

from __future__ import annotations

import json
from datetime import datetime

from django.core.management.base import CommandError
from django.utils import timezone

from core.actor import Actor
from queue_app import services
from queue_app.models import Task, TaskPriority, TaskStatus
from queue_app.serializers import TaskSerializer


class TaskVerbs:
    """Each verb is a `handle_<verb>(command, options)` method; `add_verbs` declares their arguments."""

    def add_verbs(self, verbs) -> None:

        enqueue = verbs.add_parser("enqueue", help="Enqueue a task and print its id.")
        enqueue.add_argument("--task-type", required=True)
        enqueue.add_argument("--data", default="{}", help="The payload as a JSON object.")
        enqueue.add_argument("--priority", choices=TaskPriority.values)
        when = enqueue.add_mutually_exclusive_group()
        when.add_argument("--delay", type=float, help="Seconds to wait before running.")
        when.add_argument("--at", dest="run_at", help="ISO 8601 time to run at, with a time zone.")
        enqueue.add_argument("--idempotency-key")

        status = verbs.add_parser("status", help="Show one task.")
        status.add_argument("task_id")
        status.add_argument("--json", action="store_true")

        listing = verbs.add_parser("list", help="List recent tasks.")
        listing.add_argument("--status", choices=TaskStatus.values)
        listing.add_argument("--type", dest="task_type")
        listing.add_argument("--limit", type=int, default=20)
        listing.add_argument("--json", action="store_true")

        cancel = verbs.add_parser("cancel", help="Cancel a waiting or running task.")
        cancel.add_argument("task_id")

        retry = verbs.add_parser("retry", help="Run a failed or cancelled task again.")
        retry.add_argument("task_id")

        cleanup = verbs.add_parser("cleanup", help="Delete finished tasks older than N days.")
        cleanup.add_argument("--days", type=int, default=7)

    def handle_enqueue(self, command, options):
        try:
            payload = json.loads(options["data"])
        except json.JSONDecodeError as error:
            raise CommandError(f"--data is not valid JSON ({error.msg} at position {error.pos}).") from None
        if not isinstance(payload, dict):
            raise CommandError('--data must be a JSON object, e.g. \'{"keywords": ["django"]}\'.')
        run_at = None
        if options.get("run_at"):
            try:
                run_at = datetime.fromisoformat(options["run_at"])
            except ValueError:
                raise CommandError(
                    f"--at '{options['run_at']}' is not an ISO 8601 time; use e.g. 2026-12-01T09:00:00+00:00."
                ) from None
            if timezone.is_naive(run_at):
                run_at = timezone.make_aware(run_at)
        task = services.task_enqueue(
            task_type=options["task_type"],
            payload=payload,
            priority=options.get("priority"),
            delay=options.get("delay"),
            run_at=run_at,
            idempotency_key=options.get("idempotency_key"),
            actor=Actor.cli(),
        )
        command.stdout.write(str(task.id))

    def handle_status(self, command, options):
        task = services.task_get(task_id=options["task_id"])
        if options["json"]:
            command.stdout.write(json.dumps(TaskSerializer(task).data, indent=2, default=str))
            return
        lines = [
            ("id", task.id),
            ("type", task.task_type),
            ("status", task.status),
            ("priority", task.priority),
            ("attempts", f"{task.attempts} (max retries {task.max_retries})"),
            ("created", task.created_at),
            ("run at", task.run_at),
            ("started", task.started_at),
            ("finished", task.finished_at),
            ("duration", f"{task.duration:.3f}s" if task.duration is not None else None),
            ("worker", task.worker_name or None),
            ("result", json.dumps(task.result) if task.result is not None else None),
            ("error", f"{task.error_type}: {task.error_message}" if task.error_type else None),
        ]
        for label, value in lines:
            command.stdout.write(f"{label:>9}: {'-' if value is None else value}")

    def handle_list(self, command, options):
        if options["limit"] < 1:
            raise CommandError("--limit must be at least 1.")
        tasks = Task.objects.order_by("-created_at")
        if options.get("status"):
            tasks = tasks.filter(status=options["status"])
        if options.get("task_type"):
            tasks = tasks.filter(task_type=options["task_type"])
        tasks = list(tasks[: options["limit"]])
        if options["json"]:
            command.stdout.write(json.dumps(TaskSerializer(tasks, many=True).data, indent=2, default=str))
            return
        command.stdout.write(f"{'ID':36}  {'TYPE':24} {'STATUS':10} {'PRIO':8} {'TRIES':>5}  CREATED")
        for task in tasks:
            command.stdout.write(
                f"{task.id!s:36}  {task.task_type:24} {task.status:10} {task.priority:8} {task.attempts:>5}  "
                f"{task.created_at:%Y-%m-%d %H:%M:%S}"
            )

    def handle_cancel(self, command, options):
        task = services.task_cancel(task_id=options["task_id"], actor=Actor.cli())
        command.stdout.write(f"Task {task.id} cancelled.")

    def handle_retry(self, command, options):
        task = services.task_retry(task_id=options["task_id"], actor=Actor.cli())
        command.stdout.write(f"Task {task.id} queued again.")

    def handle_cleanup(self, command, options):
        deleted = services.tasks_cleanup(days=options["days"])
        command.stdout.write(f"Deleted {deleted} finished task(s) older than {options['days']} day(s).")
