"""DRF shapes for applications: what a person reads, and what each action accepts."""

from __future__ import annotations

from decimal import Decimal

from django.urls import reverse
from rest_framework import serializers

from applications.models import Application, ApplicationScreenshot, OutcomeEvent


class ScreenshotSerializer(serializers.ModelSerializer):
    url = serializers.SerializerMethodField(help_text="Authenticated link to the PNG.")

    class Meta:
        model = ApplicationScreenshot
        fields = ["id", "kind", "page_url", "taken_at", "url"]

    def get_url(self, screenshot: ApplicationScreenshot) -> str:
        return reverse(
            "application-screenshot", kwargs={"pk": screenshot.application_id, "screenshot_id": screenshot.id}
        )


class OutcomeEventSerializer(serializers.ModelSerializer):
    class Meta:
        model = OutcomeEvent
        fields = ["kind", "occurred_at", "recorded_at", "source", "detail"]
        read_only_fields = fields


class ApplicationListSerializer(serializers.ModelSerializer):
    job_title = serializers.CharField(source="job.title", read_only=True)
    job_upwork_id = serializers.CharField(source="job.upwork_id", read_only=True)

    class Meta:
        model = Application
        fields = [
            "id",
            "job",
            "job_title",
            "job_upwork_id",
            "proposal",
            "status",
            "bid_amount",
            "connects_required",
            "connects_spent",
            "connects_refunded",
            "outcome",
            "outcome_changed_at",
            "scheduled_for",
            "approved_at",
            "submitted_at",
            "verified_at",
            "confirmation_reference",
            "error",
            "updated_at",
        ]


class ApplicationSerializer(ApplicationListSerializer):
    job_url = serializers.CharField(source="job.url", read_only=True)
    approved_by = serializers.CharField(source="approved_by.username", read_only=True, default=None)
    screenshots = ScreenshotSerializer(many=True, read_only=True)
    outcome_events = OutcomeEventSerializer(many=True, read_only=True)

    class Meta(ApplicationListSerializer.Meta):
        fields = [
            *ApplicationListSerializer.Meta.fields,
            "job_url",
            "proposal_version",
            "cover_letter",
            "screening_answers",
            "attachment_ids",
            "boost_connects",
            "connects_reserved",
            "claimed_at",
            "approved_by",
            "last_dry_run_at",
            "attempts",
            "status_changed_at",
            "created_at",
            "outcome_checked_at",
            "outcome_events",
            "screenshots",
        ]


class CreateSerializer(serializers.Serializer):
    proposal_id = serializers.IntegerField(min_value=1, help_text="An approved proposal; one application per job.")
    bid_amount = serializers.DecimalField(
        max_digits=10, decimal_places=2, min_value=Decimal("0.01"), required=False, allow_null=True, default=None
    )
    boost_connects = serializers.IntegerField(min_value=0, max_value=100, required=False, default=0)


class AnswerSerializer(serializers.Serializer):
    question = serializers.CharField(max_length=2_000)
    answer = serializers.CharField(max_length=10_000, allow_blank=True)


class ApproveSerializer(serializers.Serializer):
    bid_amount = serializers.DecimalField(
        max_digits=10, decimal_places=2, min_value=Decimal("0.01"), required=False, allow_null=True, default=None
    )
    # A ListField, not AnswerSerializer(many=True, allow_null=True): that passes allow_null to each item too.
    screening_answers = serializers.ListField(
        child=AnswerSerializer(), max_length=50, required=False, allow_null=True, default=None
    )


class ScheduleSerializer(serializers.Serializer):
    run_at = serializers.DateTimeField(required=False, allow_null=True, default=None, help_text="Omit for now.")


class BatchSerializer(serializers.Serializer):
    application_ids = serializers.ListField(
        child=serializers.IntegerField(min_value=1), required=False, allow_null=True, default=None
    )
    limit = serializers.IntegerField(required=False, min_value=1, allow_null=True, default=None)
