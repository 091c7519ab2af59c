"""DRF shapes for proposals, their versions, freelancer profiles and attachments."""

from __future__ import annotations

import json

from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from proposals.drafting import GENERATORS
from proposals.models import Attachment, FreelancerProfile, Proposal, ProposalAttachment, ProposalVersion


def _string_list(value, field: str) -> list[str]:
    if not isinstance(value, list) or not all(isinstance(item, str) for item in value):
        raise serializers.ValidationError(f"{field} must be a list of strings.")
    return [item.strip() for item in value if item.strip()]


class FreelancerProfileSerializer(serializers.ModelSerializer):
    class Meta:
        model = FreelancerProfile
        fields = [
            "id",
            "name",
            "title",
            "skills",
            "hourly_rate",
            "bio",
            "achievements",
            "sample_letter",
            "writing_rules",
            "tone",
            "is_default",
            "created_at",
            "updated_at",
        ]
        read_only_fields = ["created_at", "updated_at"]

    def validate_skills(self, value):
        return _string_list(value, "skills")

    def validate_achievements(self, value):
        return _string_list(value, "achievements")

    def validate_is_default(self, value):
        others = FreelancerProfile.objects.filter(is_default=True)
        if self.instance is not None:
            others = others.exclude(pk=self.instance.pk)
        other = others.first()
        if value and other is not None:
            raise serializers.ValidationError(f"'{other.name}' is the default profile; unset it first.")
        return value


@extend_schema_field(serializers.ListField(child=serializers.CharField()))
class SkillsField(serializers.Field):
    """A list of strings; a multipart form may send it as JSON or as "Django, PostgreSQL"."""

    def to_internal_value(self, data):
        if isinstance(data, str):
            try:
                data = json.loads(data) if data.strip().startswith("[") else data.split(",")
            except ValueError as error:
                raise serializers.ValidationError("Give a JSON list or comma-separated skills.") from error
        return _string_list(data, "skills")

    def to_representation(self, value):
        return list(value or [])


class AttachmentSerializer(serializers.ModelSerializer):
    skills = SkillsField(required=False, help_text="Skills or tags this piece shows.")

    class Meta:
        model = Attachment
        fields = ["id", "file", "title", "skills", "description", "active", "created_at"]
        read_only_fields = ["created_at"]


class ProposalVersionSerializer(serializers.ModelSerializer):
    word_count = serializers.IntegerField(read_only=True)

    class Meta:
        model = ProposalVersion
        fields = [
            "id",
            "number",
            "text",
            "word_count",
            "source",
            "model",
            "prompt_tokens",
            "completion_tokens",
            "estimated_cost",
            "trimmed_from_words",
            "feedback",
            "task_id",
            "created_by",
            "created_at",
            "google_doc_id",
            "google_doc_url",
            "exported_at",
        ]
        read_only_fields = fields


class ChosenAttachmentSerializer(serializers.ModelSerializer):
    title = serializers.CharField(source="attachment.title", read_only=True)
    file = serializers.FileField(source="attachment.file", read_only=True)

    class Meta:
        model = ProposalAttachment
        fields = ["attachment", "title", "file", "reason", "score", "chosen_by", "position"]
        read_only_fields = fields


class JobSummarySerializer(serializers.Serializer):
    id = serializers.IntegerField()
    title = serializers.CharField()
    url = serializers.URLField()
    status = serializers.CharField()
    score = serializers.IntegerField(allow_null=True)
    job_type = serializers.CharField()
    budget = serializers.DecimalField(max_digits=12, decimal_places=2, allow_null=True)
    hourly_min = serializers.DecimalField(max_digits=8, decimal_places=2, allow_null=True)
    hourly_max = serializers.DecimalField(max_digits=8, decimal_places=2, allow_null=True)
    skills = serializers.JSONField()
    client_country = serializers.CharField()
    description = serializers.CharField()


class ProposalListSerializer(serializers.ModelSerializer):
    job_title = serializers.CharField(source="job.title", read_only=True)
    job_score = serializers.IntegerField(source="job.score", read_only=True)

    class Meta:
        model = Proposal
        fields = [
            "id",
            "job",
            "job_title",
            "job_score",
            "profile",
            "status",
            "current_version",
            "approved_version",
            "reviewed_by",
            "reviewed_at",
            "created_at",
            "updated_at",
        ]
        read_only_fields = fields


class ProposalSerializer(ProposalListSerializer):
    """One proposal with its job beside it, the current text, every version and the chosen attachments."""

    job_detail = JobSummarySerializer(source="job", read_only=True)
    text = serializers.SerializerMethodField()
    text_trimmed_from_words = serializers.SerializerMethodField(
        help_text="The current text was generated over PROPOSAL_WORD_LIMIT and cut from this many words; "
        "null when it fitted."
    )
    versions = ProposalVersionSerializer(many=True, read_only=True)
    attachments = ChosenAttachmentSerializer(source="chosen_attachments", many=True, read_only=True)

    class Meta(ProposalListSerializer.Meta):
        fields = [
            *ProposalListSerializer.Meta.fields,
            "job_detail",
            "text",
            "text_trimmed_from_words",
            "screening_questions",
            "reviewer_feedback",
            "attachments",
            "versions",
        ]
        read_only_fields = fields

    def _current(self, proposal: Proposal) -> ProposalVersion | None:
        return next((v for v in proposal.versions.all() if v.number == proposal.current_version), None)

    def get_text(self, proposal: Proposal) -> str:
        current = self._current(proposal)
        return current.text if current else ""

    def get_text_trimmed_from_words(self, proposal: Proposal) -> int | None:
        current = self._current(proposal)
        return current.trimmed_from_words if current else None


class ProposalEditSerializer(serializers.Serializer):
    text = serializers.CharField(max_length=50000, trim_whitespace=True)


class ProposalRegenerateSerializer(serializers.Serializer):
    feedback = serializers.CharField(max_length=10000, required=False, allow_blank=True, default="")
    screening_questions = serializers.ListField(
        child=serializers.CharField(max_length=2000),
        required=False,
        allow_null=True,
        default=None,
        help_text="Replace the proposal's screening questions; the new version answers them.",
    )
    generator = serializers.ChoiceField(choices=GENERATORS, required=False, allow_null=True, default=None)

    def validate(self, attrs):
        if not attrs.get("feedback") and attrs.get("screening_questions") is None:
            raise serializers.ValidationError({"feedback": ["Give feedback, screening_questions, or both."]})
        return attrs


class ProposalReopenSerializer(serializers.Serializer):
    reason = serializers.CharField(max_length=10000, required=False, allow_blank=True, default="")


class ScreeningAnswerSerializer(serializers.Serializer):
    question = serializers.CharField(max_length=2000)
    answer = serializers.CharField(max_length=10000, allow_blank=True)


class ProposalAnswersSerializer(serializers.Serializer):
    answers = ScreeningAnswerSerializer(many=True, allow_empty=False)


class ProposalReviewSerializer(serializers.Serializer):
    feedback = serializers.CharField(max_length=10000, required=False, allow_blank=True, default="")


class ProposalAttachmentChoiceSerializer(serializers.Serializer):
    attachment_ids = serializers.ListField(child=serializers.IntegerField(min_value=1), allow_empty=True)


class ProposalGenerateSerializer(serializers.Serializer):
    job_id = serializers.IntegerField(min_value=1)
    profile_id = serializers.IntegerField(min_value=1, required=False, allow_null=True, default=None)
    generator = serializers.ChoiceField(choices=GENERATORS, required=False, allow_null=True, default=None)
    screening_questions = serializers.ListField(
        child=serializers.CharField(max_length=2000), required=False, allow_null=True, default=None
    )


class ProposalBatchSerializer(serializers.Serializer):
    job_ids = serializers.ListField(
        child=serializers.IntegerField(min_value=1), required=False, allow_null=True, default=None
    )
    limit = serializers.IntegerField(min_value=1, required=False, allow_null=True, default=None)
    min_score = serializers.IntegerField(min_value=0, max_value=100, required=False, allow_null=True, default=None)
    generator = serializers.ChoiceField(choices=GENERATORS, required=False, allow_null=True, default=None)
