"""`manage.py jobs search`: run one search, or a profile's whole discovery, right now (or enqueue it)."""

from __future__ import annotations

import json

from django.core.management.base import CommandError

from core.actor import Actor
from core.errors import ApplicationError
from jobs import services
from jobs.errors import SourceError
from jobs.models import SearchProfile, SourceKind
from jobs.sources.base import SearchSpec
from queue_app.services import task_enqueue

SEARCH_HELP = (
    "Search Upwork now. With --query/--skills/--category: one search. With only --profile: that profile's "
    "full discovery (every strategy, filter, rank). --enqueue hands it to the workers instead."
)


class SearchVerbs:
    def add_verbs(self, verbs) -> None:
        self.search_arguments(verbs.add_parser("search", help=SEARCH_HELP, description=SEARCH_HELP))

    def search_arguments(self, parser) -> None:
        parser.add_argument("--query", default="", help="Search words.")
        parser.add_argument("--skills", default="", help="Comma-separated skills.")
        parser.add_argument("--category", default="")
        parser.add_argument("--profile", help="Search profile name or id (scores results with its weights).")
        parser.add_argument("--source", choices=SourceKind.values, default=SourceKind.AUTO)
        parser.add_argument("--max-pages", type=int, default=None)
        parser.add_argument("--enqueue", action="store_true", help="Enqueue a task instead of running here.")

    def handle_search(self, command, options) -> None:
        profile = self._profile(options["profile"]) if options["profile"] else None
        skills = [s.strip() for s in options["skills"].split(",") if s.strip()]
        one_search = bool(options["query"] or skills or options["category"])
        if not one_search and profile is None:
            raise CommandError("Give --query, --skills or --category for one search, or --profile for a discovery.")
        if one_search:
            payload = {
                "query": options["query"],
                "skills": skills,
                "category": options["category"],
                "source": options["source"],
                "max_pages": options["max_pages"],
                "profile_id": profile.id if profile else None,
            }
            task_type = "job_search"
        else:
            payload = {"profile_id": profile.id}
            task_type = "job_discovery"
        try:
            if options["enqueue"]:
                task = task_enqueue(task_type=task_type, payload=payload, actor=Actor.cli())
                command.stdout.write(f"Enqueued {task_type} task {task.id}.")
                return
            if one_search:
                spec = SearchSpec(
                    strategy="search",
                    query=options["query"],
                    skills=tuple(skills),
                    category=options["category"],
                    max_pages=options["max_pages"],
                )
                result = services.job_search_run(spec=spec, source=options["source"], profile=profile)
            else:
                result = services.discovery_run(profile_id=profile.id)
        except SourceError as error:
            hint = "" if error.retryable else " A person needs to look at this before searching again."
            raise CommandError(f"{error.message}{hint}") from None
        except ApplicationError as error:
            raise CommandError(error.message) from None
        command.stdout.write(json.dumps(result, indent=2, default=str))
        if not one_search:
            self._say_handoff(command, result)

    def _say_handoff(self, command, result: dict) -> None:
        """One honest sentence on stderr (stdout stays JSON): what went to drafting, or why nothing did."""
        handed = result.get("handed_to_proposals") or []
        if result.get("handoff_note"):
            command.stderr.write(result["handoff_note"])
        elif handed:
            command.stderr.write(
                f"Queued drafting for {len(handed)} job(s) first seen in this run: {', '.join(map(str, handed))}. "
                "They are drafted by the workers; `manage.py proposals list` shows them."
            )
        elif "handed_to_proposals" in result:
            command.stderr.write("No new job was handed to drafting in this run.")

    def _profile(self, value: str) -> SearchProfile:
        profile = SearchProfile.objects.filter(id=int(value)).first() if value.isdigit() else None
        profile = profile or SearchProfile.objects.filter(name=value).first()
        if profile is None:
            names = ", ".join(SearchProfile.objects.values_list("name", flat=True)[:20]) or "none yet"
            raise CommandError(f"No search profile '{value}'. Existing profiles: {names}. Create one in the admin.")
        return profile
