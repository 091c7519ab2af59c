"""manage.py proposals VERB: draft, list, show, approve and reject proposals from a terminal."""

from __future__ import annotations

import json

from django.core.management.base import BaseCommand, CommandError

from core.actor import Actor
from core.errors import ApplicationError, PermanentTaskError
from proposals import selectors, services
from proposals.drafting import GENERATORS
from proposals.models import Proposal, ProposalStatus
from queue_app.services import task_enqueue


class Command(BaseCommand):
    help = (
        "Proposals: generate (one job), regenerate, reopen, batch, list, show, approve, reject. "
        "`proposals VERB --help` for options."
    )

    def add_arguments(self, parser):
        verbs = parser.add_subparsers(dest="verb", metavar="VERB", required=True)
        generate = verbs.add_parser("generate", help="Draft the proposal for one job (queued unless --now).")
        generate.add_argument("job_id", type=int)
        generate.add_argument("--generator", choices=GENERATORS, help="Default: PROPOSAL_GENERATOR.")
        generate.add_argument("--profile-id", type=int, help="Default: the default freelancer profile.")
        generate.add_argument("--question", action="append", default=None, help="A screening question (repeat).")
        generate.add_argument("--now", action="store_true", help="Draft in this process instead of queueing.")
        batch = verbs.add_parser("batch", help="Queue proposals for shortlisted / high-scoring jobs without one.")
        batch.add_argument("--limit", type=int, help="At most this many (capped by PROPOSAL_BATCH_CONCURRENCY).")
        batch.add_argument("--min-score", type=int, help="Default: PROPOSAL_BATCH_MIN_SCORE.")
        batch.add_argument("--generator", choices=GENERATORS)
        batch.add_argument("--now", action="store_true", help="Fan out from this process instead of queueing.")
        regenerate = verbs.add_parser(
            "regenerate", help="A new version with feedback and/or screening questions (queued unless --now)."
        )
        regenerate.add_argument("proposal_id", type=int)
        regenerate.add_argument("--feedback", default="", help="What to change.")
        regenerate.add_argument(
            "--question", action="append", default=None, help="A screening question (repeat); replaces the list."
        )
        regenerate.add_argument("--generator", choices=GENERATORS, help="Default: PROPOSAL_GENERATOR.")
        regenerate.add_argument("--now", action="store_true", help="Draft in this process instead of queueing.")
        reopen = verbs.add_parser(
            "reopen", help="An approved proposal back to review as a new version (no application sent yet; audited)."
        )
        reopen.add_argument("proposal_id", type=int)
        reopen.add_argument("--reason", default="", help="Why, e.g. 'the form asks a question'.")
        listing = verbs.add_parser("list", help="Recent proposals.")
        listing.add_argument("--status", choices=ProposalStatus.values)
        listing.add_argument("--limit", type=int, default=20)
        show = verbs.add_parser("show", help="A proposal's job, current text and attachments.")
        show.add_argument("proposal_id", type=int)
        approve = verbs.add_parser("approve", help="Approve the current version (audited).")
        approve.add_argument("proposal_id", type=int)
        reject = verbs.add_parser("reject", help="Reject with feedback (audited).")
        reject.add_argument("proposal_id", type=int)
        reject.add_argument("--feedback", required=True, help="What to change; a regeneration uses it.")

    def handle(self, *args, **options):
        try:
            getattr(self, f"_{options['verb']}")(options)
        except (ApplicationError, PermanentTaskError) as error:
            raise CommandError(getattr(error, "message", str(error))) from None

    def _generate(self, options):
        payload = {"job_id": options["job_id"], "generator": options["generator"], "profile_id": options["profile_id"]}
        if options["question"]:
            payload["screening_questions"] = options["question"]
        if not options["now"]:
            task = task_enqueue(task_type="generate_proposal", payload=payload, actor=Actor.cli())
            self.stdout.write(f"Queued generate_proposal as task {task.id}.")
            return
        before = Proposal.objects.filter(job_id=options["job_id"]).values_list("current_version", flat=True).first()
        proposal = services.proposal_generate(
            job_id=options["job_id"],
            profile_id=options["profile_id"],
            generator=options["generator"],
            screening_questions=options["question"],
        )
        if not before:
            said = f"Proposal {proposal.id} (version {proposal.current_version}) drafted."
        elif proposal.current_version != before:
            said = (
                f"Proposal {proposal.id} regenerated as version {proposal.current_version} "
                f"to answer {len(proposal.screening_questions)} screening question(s)."
            )
        else:
            said = (
                f"Proposal {proposal.id} already has version {proposal.current_version}; nothing new was drafted. "
                f"Use `proposals regenerate {proposal.id} --feedback ... --question ...` for a new version."
            )
            self.stdout.write(self.style.WARNING(said))
            self._show({"proposal_id": proposal.id})
            return
        self.stdout.write(self.style.SUCCESS(said))
        self._show({"proposal_id": proposal.id})

    def _regenerate(self, options):
        if not options["feedback"] and options["question"] is None:
            raise CommandError("Give --feedback, --question (repeat for several), or both.")
        if not options["now"]:
            task = services.proposal_regenerate_request(
                proposal_id=options["proposal_id"],
                feedback=options["feedback"],
                screening_questions=options["question"],
                generator=options["generator"],
                actor=Actor.cli(),
            )
            self.stdout.write(f"Queued update_proposal as task {task.id}; it writes a new version.")
            return
        version = services.proposal_regenerate(
            proposal_id=options["proposal_id"],
            feedback=options["feedback"],
            screening_questions=options["question"],
            generator=options["generator"],
            actor=Actor.cli(),
        )
        self.stdout.write(
            self.style.SUCCESS(f"Proposal {version.proposal_id} regenerated as version {version.number}.")
        )
        self._show({"proposal_id": version.proposal_id})

    def _reopen(self, options):
        proposal = services.proposal_reopen(
            proposal_id=options["proposal_id"], reason=options["reason"], actor=Actor.cli()
        )
        self.stdout.write(
            self.style.SUCCESS(
                f"Proposal {proposal.id} reopened as version {proposal.current_version} (in review). Edit or "
                "regenerate it, approve it, then approve its application again."
            )
        )

    def _batch(self, options):
        payload = {k: options[k] for k in ("limit", "min_score", "generator") if options[k] is not None}
        if options["now"]:
            progress = services.proposals_batch_generate(**payload, actor=Actor.cli())
            self.stdout.write(json.dumps(progress, indent=2, default=str))
            return
        task = task_enqueue(task_type="batch_generate_proposals", payload=payload, actor=Actor.cli())
        self.stdout.write(f"Queued batch_generate_proposals as task {task.id}.")

    def _list(self, options):
        queryset = selectors.proposal_list().order_by("-updated_at")
        if options["status"]:
            queryset = queryset.filter(status=options["status"])
        for proposal in queryset[: options["limit"]]:
            self.stdout.write(
                f"{proposal.id:>6}  {proposal.status:<10} v{proposal.current_version:<3} "
                f"score {proposal.job.score if proposal.job.score is not None else '-':>3}  {proposal.job.title[:70]}"
            )

    def _show(self, options):
        proposal = selectors.proposal_list().filter(id=options["proposal_id"]).first()
        if proposal is None:
            raise CommandError(f"No proposal with id {options['proposal_id']}; `proposals list` shows them.")
        version = selectors.proposal_current_version(proposal)
        self.stdout.write(f"Job: {proposal.job.title}\n{proposal.job.url}\nStatus: {proposal.status}\n")
        self.stdout.write(version.text if version else "(no text yet)")
        for chosen in proposal.chosen_attachments.all():
            self.stdout.write(f"Attachment: {chosen.attachment.title} ({chosen.chosen_by}): {chosen.reason}")

    def _approve(self, options):
        proposal = services.proposal_approve(proposal_id=options["proposal_id"], actor=Actor.cli())
        self.stdout.write(self.style.SUCCESS(f"Proposal {proposal.id} approved (version {proposal.current_version})."))

    def _reject(self, options):
        proposal = services.proposal_reject(
            proposal_id=options["proposal_id"], feedback=options["feedback"], actor=Actor.cli()
        )
        self.stdout.write(self.style.SUCCESS(f"Proposal {proposal.id} rejected."))
