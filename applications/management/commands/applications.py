"""manage.py applications <verb>: list, inspect, approve, schedule, dry-run, cancel, reopen, batch, verify, limits,
track-outcomes."""

from __future__ import annotations

import json
from decimal import Decimal, InvalidOperation

from django.core.management.base import BaseCommand, CommandError
from django.utils.dateparse import parse_datetime

from applications import selectors, services
from applications.cli.stats import StatsVerbs
from applications.models import Application, ApplicationStatus
from core.actor import Actor
from core.errors import ApplicationError
from queue_app.services import task_enqueue

CLI = Actor.cli()


def _decimal(value: str | None) -> Decimal | None:
    if value is None:
        return None
    try:
        return Decimal(value)
    except InvalidOperation:
        raise CommandError(f"'{value}' is not an amount; write it like 55 or 55.50.") from None


class Command(BaseCommand):
    help = (
        "Applications: approve exactly what is sent, schedule it (every safety gate is checked when it runs), "
        "dry-run it, cancel or reopen it, run a batch, show the limits."
    )

    def add_arguments(self, parser):
        verbs = parser.add_subparsers(dest="verb", required=True, metavar="VERB")
        StatsVerbs().add_verbs(verbs)  # `stats`: applications/cli/stats.py
        listing = verbs.add_parser("list", help="Applications, newest first.")
        listing.add_argument("--status", choices=ApplicationStatus.values)
        listing.add_argument("--limit", type=int, default=50)
        show = verbs.add_parser("show", help="One application: letter, answers, screenshots.")
        show.add_argument("id", type=int)
        create = verbs.add_parser("create", help="An application for an approved proposal (awaits approval).")
        create.add_argument("--proposal", type=int, required=True, help="The approved proposal's id.")
        create.add_argument("--bid", help="Hourly rate or fixed bid in USD (default: profile rate / job budget).")
        approve = verbs.add_parser("approve", help="Approve what will be sent (audited).")
        approve.add_argument("id", type=int)
        approve.add_argument("--bid", help="Change the bid before approving.")
        schedule = verbs.add_parser("schedule", help="Queue the submission (now, or --at an ISO time).")
        schedule.add_argument("id", type=int)
        schedule.add_argument("--at", help="ISO time with a zone, e.g. 2026-12-01T09:30:00+00:00.")
        for name, text in (
            ("dry-run", "Fill the form and screenshot it; never submit."),
            ("cancel", "Cancel an application that was not submitted."),
            ("reopen", "After a failure or a stop: back to awaiting approval."),
            ("verify", "Queue a check of Upwork's proposals list for a submitted application."),
        ):
            verbs.add_parser(name, help=text).add_argument("id", type=int)
        batch = verbs.add_parser("batch", help="Schedule approved ones within today's cap, spaced by the gap.")
        batch.add_argument("--limit", type=int)
        verbs.add_parser("limits", help="The safety settings and how much of today's cap and the budget is used.")
        track = verbs.add_parser(
            "track-outcomes", help="Follow sent proposals once now (viewed, replied, hired, refunds...)."
        )
        track.add_argument(
            "--source",
            action="append",
            choices=["api", "browser"],
            help="Read only this source (repeatable; default: both, each when connected).",
        )
        track.add_argument("--queue", action="store_true", help="Queue a track_outcomes task instead of running here.")

    def handle_track_outcomes(self, options):
        sources = options["source"]
        if options["queue"]:
            task = task_enqueue(task_type="track_outcomes", payload={"sources": sources}, actor=CLI)
            self.stdout.write(self.style.SUCCESS(f"Outcome tracking queued as task {task.id}."))
            return
        run = services.outcomes_track(sources=sources, actor=CLI)
        self.stdout.write(
            self.style.SUCCESS(
                f"Outcome run {run.id} {run.status}: {run.applications_checked} application(s) followed, "
                f"{run.events_recorded} new event(s), {run.connects_refunded} Connects refunded."
            )
        )
        if run.error:
            self.stdout.write(f"Note: {run.error}")

    def handle(self, *args, **options):
        verb = options["verb"].replace("-", "_")
        try:
            getattr(self, f"handle_{verb}")(options)
        except ApplicationError as error:
            raise CommandError(error.message) from None

    def _line(self, application: Application) -> str:
        when = application.submitted_at or application.scheduled_for or application.approved_at
        return (
            f"{application.id:>5}  {application.status:<18} {application.bid_amount or '-'!s:>9}  "
            f"{(when.isoformat(timespec='minutes') if when else '-'):<25} {application.job.title[:60]}"
        )

    def handle_list(self, options):
        queryset = selectors.application_list().order_by("-created_at")
        if options["status"]:
            queryset = queryset.filter(status=options["status"])
        rows = list(queryset[: options["limit"]])
        if not rows:
            self.stdout.write("No applications.")
        for application in rows:
            self.stdout.write(self._line(application))

    def handle_show(self, options):
        application = selectors.application_list().filter(id=options["id"]).first()
        if application is None:
            raise CommandError(f"No application with id {options['id']}; see `manage.py applications list`.")
        self.stdout.write(self._line(application))
        self.stdout.write(f"Job: {application.job.url}")
        if application.error:
            self.stdout.write(f"Error: {application.error}")
        self.stdout.write(f"Reference: {application.confirmation_reference or '-'}")
        self.stdout.write("\n" + (application.cover_letter or "(not approved yet)") + "\n")
        for item in application.screening_answers:
            self.stdout.write(f"Q: {item['question']}\nA: {item['answer']}")
        for shot in application.screenshots.all():
            self.stdout.write(f"Screenshot ({shot.kind}): {shot.image.path}")

    def handle_create(self, options):
        application = services.application_create(
            proposal_id=options["proposal"], bid_amount=_decimal(options["bid"]), actor=CLI
        )
        self.stdout.write(self.style.SUCCESS(f"Application {application.id} created ({application.status})."))

    def handle_approve(self, options):
        application = services.application_approve(
            application_id=options["id"], bid_amount=_decimal(options["bid"]), actor=CLI
        )
        self.stdout.write(self.style.SUCCESS(f"Application {application.id} approved; bid {application.bid_amount}."))

    def handle_schedule(self, options):
        run_at = None
        if options["at"]:
            run_at = parse_datetime(options["at"])
            if run_at is None or run_at.tzinfo is None:
                raise CommandError("--at needs an ISO time with a time zone, e.g. 2026-12-01T09:30:00+00:00.")
        application = services.application_schedule(application_id=options["id"], run_at=run_at, actor=CLI)
        self.stdout.write(
            self.style.SUCCESS(f"Application {application.id} scheduled for {application.scheduled_for}.")
        )

    def handle_dry_run(self, options):
        task = services.application_dry_run_request(application_id=options["id"], actor=CLI)
        self.stdout.write(self.style.SUCCESS(f"Dry run queued as task {task.id}."))

    def handle_cancel(self, options):
        services.application_cancel(application_id=options["id"], actor=CLI)
        self.stdout.write(self.style.SUCCESS(f"Application {options['id']} cancelled."))

    def handle_reopen(self, options):
        services.application_reopen(application_id=options["id"], actor=CLI)
        self.stdout.write(self.style.SUCCESS(f"Application {options['id']} reopened: approve it again to send it."))

    def handle_verify(self, options):
        if not Application.objects.filter(id=options["id"], status=ApplicationStatus.SUBMITTED).exists():
            raise CommandError(f"Application {options['id']} is not a submitted application.")
        task = task_enqueue(task_type="verify_submission", payload={"application_id": options["id"]}, actor=CLI)
        self.stdout.write(self.style.SUCCESS(f"Verification queued as task {task.id}."))

    def handle_batch(self, options):
        task = services.applications_batch_request(limit=options["limit"], actor=CLI)
        self.stdout.write(self.style.SUCCESS(f"Batch queued as task {task.id}."))

    def handle_limits(self, options):
        self.stdout.write(json.dumps(selectors.limits_summary(), indent=2, default=str))

    def handle_stats(self, options):
        StatsVerbs().handle_stats(self, options)

    def handle_analytics_rollup(self, options):
        StatsVerbs().handle_analytics_rollup(self, options)
