"""App config: the proposals family and its OpenAI rate limit, task types and default schedule."""

from django.apps import AppConfig


class ProposalsConfig(AppConfig):
    name = "proposals"
    verbose_name = "Proposals"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from django.conf import settings

        from proposals import tasks
        from queue_app import registry

        registry.register_family(
            "proposals",
            limits=registry.Limits(rate=settings.OPENAI_RATE_LIMIT),
            description="OpenAI drafting: rate-limited and paid per token.",
            probe=True,
        )
        registry.register(
            "generate_proposal",
            tasks.generate_proposal,
            family="proposals",
            payload_serializer=tasks.GenerateProposalPayload,
            priority="normal",
            timeout=600,
            description="Draft the proposal for one job (OpenAI or the template drafter), choose its attachments.",
        )
        registry.register(
            "batch_generate_proposals",
            tasks.batch_generate_proposals,
            family="proposals",
            payload_serializer=tasks.BatchGenerateProposalsPayload,
            priority="normal",
            timeout=300,
            description="Fan out generate_proposal for shortlisted or high-scoring jobs without a proposal, "
            "within PROPOSAL_BATCH_CONCURRENCY and the daily OpenAI cost cap.",
        )
        registry.register(
            "update_proposal",
            tasks.update_proposal,
            family="proposals",
            payload_serializer=tasks.UpdateProposalPayload,
            priority="high",
            timeout=600,
            description="A new proposal version: regenerated with reviewer feedback, or an edited text.",
        )
        registry.register(
            "export_proposal",
            tasks.export_proposal,
            payload_serializer=tasks.ExportProposalPayload,
            priority="low",
            timeout=300,
            description="Export an approved proposal version to Google Docs (skipped when not configured).",
        )
        registry.register_default_schedule(
            "proposal_generation",
            task_type="batch_generate_proposals",
            cron_expression="0 * * * *",
            description="Proposals for filtered jobs, hourly.",
        )
