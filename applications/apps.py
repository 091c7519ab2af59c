"""App config: the applications family (one at a time by default), switches, task types, schedule, health check."""

from django.apps import AppConfig


class ApplicationsConfig(AppConfig):
    name = "applications"
    verbose_name = "Applications"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from django.conf import settings

        from applications import tasks
        from applications.health import applications_alerts
        from queue_app import health, registry, switches

        # Flipped by an operator in the admin (Runtime switches), read by workers at task time; the
        # environment variable of the same name is the default.
        switches.switch_declare(
            key="applications.enabled",
            kind=switches.BOOL,
            setting="APPLICATIONS_ENABLED",
            description="Kill switch: off = nothing is submitted (dry runs still fill the form).",
        )
        switches.switch_declare(
            key="applications.dry_run",
            kind=switches.BOOL,
            setting="APPLICATIONS_DRY_RUN",
            description="On = submissions fill the form and take screenshots but never click submit.",
        )
        switches.switch_declare(
            key="applications.daily_cap",
            kind=switches.INT,
            setting="APPLICATIONS_DAILY_CAP",
            minimum=0,
            description="At most this many submissions a day (resets at midnight, business time zone).",
        )

        registry.register_family(
            "applications",
            limits=registry.Limits(concurrency=settings.APPLICATIONS_CONCURRENCY),
            description="Submissions spend Connects: one at a time across all hosts.",
            probe=True,
        )
        registry.register(
            "submit_application",
            tasks.submit_application,
            family="applications",
            payload_serializer=tasks.SubmitApplicationPayload,
            priority="high",
            timeout=600,
            max_retries=2,
            description="Send one approved application through the browser session; every safety gate is "
            "checked at run time. CAPTCHA, login wall or an unexpected page: needs attention, no retry.",
        )
        registry.register(
            "batch_submit_applications",
            tasks.batch_submit_applications,
            family="applications",
            payload_serializer=tasks.BatchSubmitApplicationsPayload,
            priority="normal",
            timeout=120,
            description="Schedule approved applications in order, spaced by the minimum gap with jitter, "
            "within today's cap and the monthly Connects budget; the rest wait for a later batch.",
        )
        registry.register(
            "verify_submission",
            tasks.verify_submission,
            family="applications",
            payload_serializer=tasks.VerifySubmissionPayload,
            priority="normal",
            timeout=300,
            max_retries=2,
            description="Open the proposals list and confirm a submitted application is there; missing: "
            "needs attention.",
        )
        registry.register(
            "track_outcomes",
            tasks.track_outcomes,
            family="applications",  # shares the browser session with submissions: one at a time
            payload_serializer=tasks.TrackOutcomesPayload,
            priority="low",
            timeout=900,
            max_retries=1,
            description="Follow every sent application's fate (viewed, replied, interview, hired, declined, "
            "closed, cancelled, refunds) from the official API and the proposals pages; a CAPTCHA or login "
            "wall stops it (run marked stopped, health alert).",
        )
        registry.register(
            "analytics_refresh",
            tasks.analytics_refresh,
            payload_serializer=tasks.AnalyticsRefreshPayload,
            priority="low",
            timeout=900,
            max_retries=1,
            description="Outcomes analytics: recount the rollup's changed days and compute the calibration report "
            "(the regressions) so the page only reads it; queued by the page when the report is stale, after an "
            "outcome tracking run that recorded something, and by a person's Recompute.",
        )
        registry.register_default_schedule(
            "outcome_tracking",
            task_type="track_outcomes",
            cron_expression="30 {hours}/2 * * {days}",
            business_hours=True,
            description="Follow sent proposals' outcomes every 2 hours in business hours.",
        )
        registry.register_default_schedule(
            "analytics_refresh",
            task_type="analytics_refresh",
            cron_expression="15 3 * * *",
            payload={"full": True},
            description="Recount the analytics rollup from scratch and refit the calibration every night, so "
            "edits the per-day fingerprints cannot see (a job changed after it was applied to) are counted.",
        )
        registry.register_default_schedule(
            "application_submission",
            task_type="batch_submit_applications",
            cron_expression="0 */2 * * *",
            description="Submit approved applications every 2 hours "
            "(daily limits are enforced by the applications app).",
        )
        health.register_check(
            applications_alerts,
            penalties={"applications_need_attention": 10, "outcome_tracking_stopped": 5},
            needs_database=True,
        )
