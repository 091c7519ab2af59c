"""DRF shapes for jobs, profiles, browser sessions and the API connection."""

from __future__ import annotations

from rest_framework import serializers

from core.parsers import DepthLimitedJSONField
from jobs import scoring
from jobs.models import WATCH_STATE_FIELDS, BrowserSession, Job, SearchProfile, Strategy, UpworkOAuthToken


class JobSerializer(serializers.ModelSerializer):
    score_explanation = serializers.SerializerMethodField(help_text="Why this score: one line per part.")

    class Meta:
        model = Job
        fields = [
            "id",
            "upwork_id",
            "url",
            "title",
            "description",
            "screening_questions",
            "job_type",
            "budget",
            "hourly_min",
            "hourly_max",
            "skills",
            "category",
            "experience_level",
            "duration",
            "workload",
            "client_country",
            "client_payment_verified",
            "client_total_spent",
            "client_hires",
            "client_rating",
            "client_reviews",
            "proposals_tier",
            "connects_required",
            "posted_at",
            "discovered_at",
            "last_seen_at",
            "times_seen",
            "source",
            "profile",
            "status",
            "status_changed_at",
            "passed_filters",
            "filter_reasons",
            "score",
            "score_breakdown",
            "score_explanation",
            "scored_at",
        ]
        read_only_fields = fields

    def get_score_explanation(self, job: Job) -> list[str]:
        return scoring.explain(job.score_breakdown or {}).splitlines()


# Lists of words and phrases from API input: bounded like every free-text field.
STRING_LIST_MAX_ITEMS = 200
STRING_LIST_MAX_LENGTH = 500


def _string_list(value, field: str) -> list[str]:
    if not isinstance(value, list) or not all(isinstance(item, str) for item in value):
        raise serializers.ValidationError(f"{field} must be a list of strings.")
    if len(value) > STRING_LIST_MAX_ITEMS:
        raise serializers.ValidationError(f"{field} may have at most {STRING_LIST_MAX_ITEMS} items.")
    if any(len(item) > STRING_LIST_MAX_LENGTH for item in value):
        raise serializers.ValidationError(f"Each item of {field} may be at most {STRING_LIST_MAX_LENGTH} characters.")
    return [item.strip() for item in value if item.strip()]


class SearchProfileSerializer(serializers.ModelSerializer):
    class Meta:
        model = SearchProfile
        fields = [
            "id",
            "name",
            "enabled",
            "keywords",
            "skills",
            "saved_searches",
            "categories",
            "strategies",
            "source",
            "excluded_words",
            "excluded_countries",
            "require_payment_verified",
            "min_fixed_budget",
            "min_hourly_rate",
            "target_hourly_rate",
            "target_fixed_budget",
            "max_proposals",
            "min_client_spent",
            "min_client_rating",
            "min_client_hires",
            "score_weights",
            "handoff_top_n",
            "handoff_min_score",
            "alert_threshold",
            "watch",
            "poll_seconds",
            "auto_draft",
            *WATCH_STATE_FIELDS,
            "last_run_at",
            "created_at",
            "updated_at",
        ]
        read_only_fields = [
            *WATCH_STATE_FIELDS,
            "last_run_at",
            "created_at",
            "updated_at",
        ]

    def validate_keywords(self, value):
        return _string_list(value, "keywords")

    def validate_skills(self, value):
        return _string_list(value, "skills")

    def validate_saved_searches(self, value):
        return _string_list(value, "saved_searches")

    def validate_categories(self, value):
        return _string_list(value, "categories")

    def validate_excluded_words(self, value):
        return _string_list(value, "excluded_words")

    def validate_excluded_countries(self, value):
        return _string_list(value, "excluded_countries")

    def validate_strategies(self, value):
        value = _string_list(value, "strategies")
        unknown = sorted(set(value) - set(Strategy.values))
        if unknown:
            raise serializers.ValidationError(f"Unknown strategies {unknown}; use any of {', '.join(Strategy.values)}.")
        return value

    def validate_score_weights(self, value):
        if not isinstance(value, dict):
            raise serializers.ValidationError("score_weights must be an object of part: weight.")
        unknown = sorted(set(value) - set(scoring.SCORE_PARTS))
        if unknown:
            raise serializers.ValidationError(f"Unknown parts {unknown}; use {', '.join(scoring.SCORE_PARTS)}.")
        for part, weight in value.items():
            if not isinstance(weight, int | float) or isinstance(weight, bool) or weight < 0:
                raise serializers.ValidationError(f"The weight of {part} must be a number of zero or more.")
        if value and not any(value.get(p, scoring.DEFAULT_WEIGHTS[p]) for p in scoring.SCORE_PARTS):
            raise serializers.ValidationError("At least one weight must be above zero.")
        return value

    def validate_handoff_min_score(self, value):
        if value > 100:
            raise serializers.ValidationError("A score is 0-100.")
        return value

    def validate_alert_threshold(self, value):
        if value is not None and value > 100:
            raise serializers.ValidationError("A score is 0-100 (empty = no alerts).")
        return value

    def validate(self, attrs):
        from jobs.services.watching import watch_settings_errors

        # The profile as it would be saved: the stored one with these changes (or a new one).
        candidate = SearchProfile(**{**_profile_values(self.instance), **attrs})
        errors = watch_settings_errors(profile=candidate)
        if errors:
            raise serializers.ValidationError(errors)
        return attrs


def _profile_values(profile: SearchProfile | None) -> dict:
    if profile is None:
        return {}
    fields = SearchProfile._meta.concrete_fields
    return {field.name: getattr(profile, field.name) for field in fields if field.name != "id"}


class BrowserSessionSerializer(serializers.ModelSerializer):
    """A session as shown to people: never its cookies."""

    class Meta:
        model = BrowserSession
        fields = [
            "id",
            "name",
            "cookie_domains",
            "status",
            "attention_reason",
            "attention_url",
            "attention_at",
            "expires_at",
            "imported_at",
            "last_used_at",
        ]
        read_only_fields = fields


class BrowserSessionImportSerializer(serializers.Serializer):
    name = serializers.CharField(max_length=100)
    storage_state = DepthLimitedJSONField(help_text="A Playwright storage state: {'cookies': [...], 'origins': []}.")
    expires_at = serializers.DateTimeField(required=False, allow_null=True, default=None)
    replace = serializers.BooleanField(required=False, default=False)


class UpworkConnectionSerializer(serializers.ModelSerializer):
    class Meta:
        model = UpworkOAuthToken
        fields = ["account", "status", "expires_at", "scope", "refreshed_at", "last_error"]
        read_only_fields = fields
