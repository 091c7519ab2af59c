"""`manage.py queue scheduled <action>`: list, add, update, remove, enable, disable, run and defaults."""

from __future__ import annotations

import json

from django.core.management.base import CommandError

from core.actor import Actor
from queue_app import scheduling
from queue_app.models import ScheduledTask, TaskPriority
from queue_app.serializers import ScheduledTaskSerializer


def _payload(text: str, option: str) -> dict:
    try:
        payload = json.loads(text)
    except json.JSONDecodeError as error:
        raise CommandError(f"{option} is not valid JSON ({error.msg} at position {error.pos}).") from None
    if not isinstance(payload, dict):
        raise CommandError(f'{option} must be a JSON object, e.g. \'{{"keywords": ["django"]}}\'.')
    return payload


def _when(value) -> str:
    return f"{value:%Y-%m-%d %H:%M:%S %Z}" if value else "-"


class ScheduleVerbs:
    """One verb, `scheduled`, with its own actions (argparse sub-subparsers)."""

    def add_verbs(self, verbs) -> None:
        scheduled = verbs.add_parser("scheduled", help="Manage cron schedules (scheduled ACTION --help).")
        actions = scheduled.add_subparsers(dest="scheduled_action", required=True, metavar="ACTION")

        listing = actions.add_parser("list", help="List the schedules.")
        listing.add_argument("--json", action="store_true")

        add = actions.add_parser("add", help="Add a schedule: add NAME \"CRON\" TASK_TYPE 'JSON'.")
        add.add_argument("name")
        add.add_argument("cron_expression", metavar="CRON", help="Five fields, e.g. '0 9 * * 1-5'.")
        add.add_argument("task_type", metavar="TASK_TYPE")
        add.add_argument("payload", metavar="JSON", nargs="?", default="{}", help="The task payload, a JSON object.")
        add.add_argument("--priority", choices=TaskPriority.values)
        add.add_argument("--timezone", help="IANA zone the cron is read in (default SCHEDULER_TIMEZONE).")
        add.add_argument("--description", default="")
        add.add_argument("--disabled", action="store_true", help="Create it disabled.")

        update = actions.add_parser("update", help="Change fields of a schedule.")
        update.add_argument("name")
        update.add_argument("--cron", dest="cron_expression")
        update.add_argument("--task-type")
        update.add_argument("--payload", help="The new payload, a JSON object.")
        update.add_argument("--priority", choices=[*TaskPriority.values, "default"])
        update.add_argument("--timezone")
        update.add_argument("--description")
        update.add_argument("--rename", dest="new_name")

        for action, text in [
            ("remove", "Delete a schedule."),
            ("enable", "Enable a schedule."),
            ("disable", "Disable a schedule (it stops firing)."),
            ("run", "Fire a schedule now and print the task id."),
        ]:
            actions.add_parser(action, help=text).add_argument("name")

        actions.add_parser("defaults", help="Create the missing default schedules (never changes existing ones).")

    def handle_scheduled(self, command, options):
        action = options["scheduled_action"]
        getattr(self, f"_{action}")(command, options)

    def _list(self, command, options):
        schedules = list(ScheduledTask.objects.select_related("last_task").order_by("name"))
        if options["json"]:
            command.stdout.write(json.dumps(ScheduledTaskSerializer(schedules, many=True).data, indent=2, default=str))
            return
        if not schedules:
            command.stdout.write("No schedules. Add one with `manage.py queue scheduled add`.")
            return
        command.stdout.write(
            f"{'NAME':26} {'ON':3} {'CRON':18} {'TIME ZONE':18} {'TASK TYPE':26} {'NEXT RUN':24} LAST RUN"
        )
        for schedule in schedules:
            command.stdout.write(
                f"{schedule.name:26} {'yes' if schedule.enabled else 'no':3} {schedule.cron_expression:18} "
                f"{schedule.timezone:18} {schedule.task_type:26} {_when(schedule.next_run_at):24} "
                f"{_when(schedule.last_run_at)}"
            )

    def _add(self, command, options):
        schedule = scheduling.schedule_create(
            name=options["name"],
            cron_expression=options["cron_expression"],
            task_type=options["task_type"],
            payload=_payload(options["payload"], "JSON"),
            priority=options.get("priority") or "",
            timezone=options.get("timezone"),
            description=options.get("description") or "",
            enabled=not options.get("disabled"),
        )
        command.stdout.write(
            f"Schedule {schedule.name} added: {schedule.cron_expression} ({schedule.timezone}), "
            f"next run {_when(schedule.next_run_at)}."
        )

    def _update(self, command, options):
        schedule = scheduling.schedule_get(name=options["name"])
        changes = {}
        for option, field in [
            ("cron_expression", "cron_expression"),
            ("task_type", "task_type"),
            ("timezone", "timezone"),
            ("description", "description"),
            ("new_name", "name"),
        ]:
            if options.get(option) is not None:
                changes[field] = options[option]
        if options.get("payload") is not None:
            changes["payload"] = _payload(options["payload"], "--payload")
        if options.get("priority") is not None:
            changes["priority"] = "" if options["priority"] == "default" else options["priority"]
        if not changes:
            raise CommandError(
                "Nothing to change: give at least one of --cron, --task-type, --payload, "
                "--priority, --timezone, --description, --rename."
            )
        schedule = scheduling.schedule_update(schedule_id=schedule.pk, **changes)
        command.stdout.write(f"Schedule {schedule.name} updated; next run {_when(schedule.next_run_at)}.")

    def _remove(self, command, options):
        schedule = scheduling.schedule_get(name=options["name"])
        scheduling.schedule_delete(schedule_id=schedule.pk)
        command.stdout.write(f"Schedule {schedule.name} removed.")

    def _enable(self, command, options):
        schedule = scheduling.schedule_enable(schedule_id=scheduling.schedule_get(name=options["name"]).pk)
        command.stdout.write(f"Schedule {schedule.name} enabled; next run {_when(schedule.next_run_at)}.")

    def _disable(self, command, options):
        schedule = scheduling.schedule_disable(schedule_id=scheduling.schedule_get(name=options["name"]).pk)
        command.stdout.write(f"Schedule {schedule.name} disabled.")

    def _run(self, command, options):
        schedule = scheduling.schedule_get(name=options["name"])
        task = scheduling.schedule_run_now(schedule_id=schedule.pk, actor=Actor.cli())
        command.stdout.write(str(task.id))

    def _defaults(self, command, options):
        created = scheduling.schedules_ensure_defaults()
        names = ", ".join(schedule.name for schedule in created) or "none (all present or their task types unknown)"
        command.stdout.write(f"Default schedules created: {names}.")
