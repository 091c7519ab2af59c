"""`manage.py applications stats [--days N] [--json]`: the funnel, rates, spend and calibration in a terminal."""

from __future__ import annotations

import json
from datetime import timedelta

from django.core.management.base import CommandError
from django.core.serializers.json import DjangoJSONEncoder

from applications.analytics import selectors

STATS_HELP = "Outcomes analytics: the funnel, reply rates per score band and drafter, Connects per reply, AUC."


def _pct(value) -> str:
    return "-" if value is None else f"{value * 100:.1f}%"


def _num(value, digits: int = 1) -> str:
    return "-" if value is None else f"{value:,.{digits}f}"


ROLLUP_HELP = (
    "The analytics rollup (per-day counts the page reads): recount changed days, --rebuild every day from scratch, "
    "--check that it gives the same figures as counting the applications live."
)


class StatsVerbs:
    def add_verbs(self, verbs) -> None:
        self.stats_arguments(verbs.add_parser("stats", help=STATS_HELP, description=STATS_HELP))
        rollup = verbs.add_parser("analytics-rollup", help=ROLLUP_HELP, description=ROLLUP_HELP)
        rollup.add_argument("--rebuild", action="store_true", help="Empty the rollup and count every day again.")
        rollup.add_argument(
            "--check",
            type=int,
            metavar="DAYS",
            help="Compare the last DAYS days with the live count; exit 1 if not equal.",
        )

    def handle_analytics_rollup(self, command, options) -> None:
        from django.utils import timezone

        from applications.analytics import rollup

        if options["rebuild"]:
            days = rollup.rebuild()
            command.stdout.write(f"Rollup rebuilt: {days} day(s) with sent applications counted.")
        else:
            first = timezone.now().date() - timedelta(days=3650)
            command.stdout.write(f"Rollup refreshed: {len(rollup.refresh(first))} day(s) recounted.")
        if options["check"]:
            differences = rollup.compare(days=options["check"])
            if differences:
                raise CommandError(f"The rollup differs from the live count: {differences[:5]}")
            command.stdout.write(f"The last {options['check']} days: the rollup equals the live count.")

    def stats_arguments(self, parser) -> None:
        parser.add_argument("--days", type=int, default=selectors.DEFAULT_DAYS, help="Look back N days (default 30).")
        parser.add_argument("--json", action="store_true", help="Print everything as JSON.")

    def handle_stats(self, command, options) -> None:
        days = options["days"]
        if not 1 <= days <= 3650:
            raise CommandError(f"--days must be between 1 and 3650, not {days}.")
        data = selectors.overview(days=days, use_cache=False)
        if options["json"]:
            command.stdout.write(json.dumps(data, cls=DjangoJSONEncoder, indent=2))
            return
        out = command.stdout
        out.write(f"Last {days} days (since {data['since']:%Y-%m-%d %H:%M} UTC)")
        out.write("\nFunnel (jobs discovered in the window):")
        for row in data["funnel"]:
            out.write(
                f"  {row['stage']:<12} {row['count']:>7}  {_pct(row['rate_from_previous']):>7} of the stage before"
            )
        totals, spend = data["totals"], data["spend"]
        out.write(
            f"\nSent {totals['submitted']}, viewed {totals['viewed']}, replied {totals['replied']} "
            f"({_pct(totals['reply_rate'])}), interview {totals['interview']}, hired {totals['hired']}"
        )
        out.write(f"Connects {spend['connects']} (net of refunds), OpenAI ${spend['openai']:.4f}")
        for stage, row in spend["per"].items():
            out.write(f"  per {stage:<10} {_num(row['connects']):>8} Connects  ${_num(row['openai'], 4):>8} OpenAI")
        for key in ("score_band", "profile", "drafter", "prompt_version", "time_to_apply"):
            dimension = data["rates"][key]
            out.write(f"\n{dimension['label']}:")
            for row in dimension["rows"]:
                out.write(
                    f"  {row['label'][:24]:<24} sent {row['submitted']:>6}  replied {row['replied']:>5} "
                    f"({_pct(row['reply_rate']):>6})  {_num(row['connects_per_reply']):>7} Connects/reply"
                )
        calibration = data["calibration"]
        auc = (
            _num(calibration["auc"], 3)
            if calibration["auc"] is not None
            else (f"needs {calibration['min_outcomes']} settled outcomes")
        )
        out.write(f"\nCalibration: {calibration['settled']} settled, {calibration['replies']} replied, AUC {auc}")
        for row in calibration["deciles"]:
            if row["n"]:
                out.write(
                    f"  score {row['band']:<7} {row['replies']:>5}/{row['n']:<6} {_pct(row['rate']):>6}  "
                    f"95% {_pct(row['ci_low'])}-{_pct(row['ci_high'])}"
                )
