"""Queue entry points for proposals: validate the payload, load by id, call a service, report the outcome."""

from __future__ import annotations

import logging

from rest_framework import serializers

from core.errors import ApplicationError, NotFound, PermanentTaskError
from proposals import drafting, services
from queue_app.registry import TaskContext

logger = logging.getLogger(__name__)


class GenerateProposalPayload(serializers.Serializer):
    job_id = serializers.IntegerField(min_value=1)
    profile_id = serializers.IntegerField(min_value=1, required=False, allow_null=True, default=None)
    generator = serializers.ChoiceField(choices=drafting.GENERATORS, required=False, allow_null=True, default=None)
    screening_questions = serializers.ListField(
        child=serializers.CharField(max_length=2000), required=False, allow_null=True, default=None
    )


class BatchGenerateProposalsPayload(serializers.Serializer):
    job_ids = serializers.ListField(
        child=serializers.IntegerField(min_value=1), required=False, allow_null=True, default=None
    )
    limit = serializers.IntegerField(min_value=1, required=False, allow_null=True, default=None)
    min_score = serializers.IntegerField(min_value=0, max_value=100, required=False, allow_null=True, default=None)
    profile_id = serializers.IntegerField(min_value=1, required=False, allow_null=True, default=None)
    generator = serializers.ChoiceField(choices=drafting.GENERATORS, required=False, allow_null=True, default=None)


class UpdateProposalPayload(serializers.Serializer):
    proposal_id = serializers.IntegerField(min_value=1)
    feedback = serializers.CharField(required=False, allow_blank=True, default="", max_length=10000)
    text = serializers.CharField(required=False, allow_blank=True, default="", max_length=50000)
    screening_questions = serializers.ListField(
        child=serializers.CharField(max_length=2000), required=False, allow_null=True, default=None
    )
    generator = serializers.ChoiceField(choices=drafting.GENERATORS, required=False, allow_null=True, default=None)

    def validate(self, attrs):
        regenerate = bool(attrs.get("feedback")) or attrs.get("screening_questions") is not None
        if regenerate == bool(attrs.get("text")):
            raise serializers.ValidationError(
                {
                    "feedback": [
                        "Give either feedback or screening_questions (to regenerate) or text (an edited version)."
                    ]
                }
            )
        return attrs


class ExportProposalPayload(serializers.Serializer):
    version_id = serializers.IntegerField(min_value=1)


def _permanent(error: ApplicationError) -> PermanentTaskError:
    """Bad ids or a refused transition: the same payload will fail again, so the task fails now."""
    return PermanentTaskError(error.message)


def generate_proposal(payload: dict, context: TaskContext) -> dict:
    try:
        proposal = services.proposal_generate(
            job_id=payload["job_id"],
            profile_id=payload.get("profile_id"),
            generator=payload.get("generator"),
            screening_questions=payload.get("screening_questions"),
            task_id=context.task_id,
        )
    except NotFound as error:
        logger.info("Task %s: %s Nothing to do.", context.task_id, error.message)
        return {"outcome": "gone", "message": error.message}
    except ApplicationError as error:
        raise _permanent(error) from error
    version = proposal.versions.order_by("-number").first()
    return {
        "proposal_id": proposal.id,
        "job_id": proposal.job_id,
        "version": proposal.current_version,
        "source": version.source if version else None,
        "model": version.model if version else "",
        "prompt_tokens": version.prompt_tokens if version else 0,
        "completion_tokens": version.completion_tokens if version else 0,
        "estimated_cost": str(version.estimated_cost) if version else "0",
        "attachments": list(proposal.chosen_attachments.values_list("attachment_id", flat=True)),
        "created_by_this_task": bool(version and str(version.task_id) == str(context.task_id)),
    }


def batch_generate_proposals(payload: dict, context: TaskContext) -> dict:
    try:
        return services.proposals_batch_generate(
            job_ids=payload.get("job_ids"),
            limit=payload.get("limit"),
            min_score=payload.get("min_score"),
            profile_id=payload.get("profile_id"),
            generator=payload.get("generator"),
        )
    except ApplicationError as error:
        raise _permanent(error) from error


def update_proposal(payload: dict, context: TaskContext) -> dict:
    try:
        if payload.get("text"):
            version = services.proposal_edit(
                proposal_id=payload["proposal_id"], text=payload["text"], task_id=context.task_id
            )
        else:
            version = services.proposal_regenerate(
                proposal_id=payload["proposal_id"],
                feedback=payload.get("feedback") or "",
                screening_questions=payload.get("screening_questions"),
                generator=payload.get("generator"),
                task_id=context.task_id,
            )
    except NotFound as error:
        logger.info("Task %s: %s Nothing to do.", context.task_id, error.message)
        return {"outcome": "gone", "message": error.message}
    except ApplicationError as error:
        raise _permanent(error) from error
    return {
        "proposal_id": version.proposal_id,
        "version": version.number,
        "source": version.source,
        "estimated_cost": str(version.estimated_cost),
    }


def export_proposal(payload: dict, context: TaskContext) -> dict:
    from googleapiclient.errors import HttpError

    try:
        return services.proposal_export(version_id=payload["version_id"])
    except NotFound as error:
        return {"outcome": "gone", "message": error.message}
    except FileNotFoundError as error:
        raise PermanentTaskError(
            f"GOOGLE_SERVICE_ACCOUNT_FILE cannot be read ({error.filename}): download the service account's JSON key "
            "and point the setting at it."
        ) from error
    except HttpError as error:
        status = int(error.resp.status)
        if status == 429 or status >= 500:
            raise  # the client already retried GOOGLE_API_NUM_RETRIES times; the queue tries again later
        raise PermanentTaskError(f"Google rejected the export ({status}): {error.reason}") from error
