"""Calibration writes: apply a profile's suggested weights and threshold, or revert one. Both audited."""

from __future__ import annotations

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from applications.analytics import selectors
from core.actor import Actor
from core.audit import audit_record
from core.errors import InvalidTransition, NotFound, ValidationFailed
from jobs.models import ProfileTuning, SearchProfile, TuningStatus


def _state(profile: SearchProfile) -> dict:
    return {"score_weights": dict(profile.score_weights or {}), "handoff_min_score": profile.handoff_min_score}


def calibration_apply(*, profile_id: int, actor: Actor, days: int | None = None) -> ProfileTuning:
    """Recompute the profile's suggestion from the outcomes now and set its weights and threshold to it.

    The previous weights and threshold are kept in a ProfileTuning row, so calibration_revert can put them back.
    """
    days = days or settings.ANALYTICS_CALIBRATION_DAYS
    with transaction.atomic():
        profile = SearchProfile.objects.select_for_update().filter(id=profile_id).first()
        if profile is None:
            raise NotFound(f"No search profile with id {profile_id}.", field_errors={"profile_id": ["Not found."]})
        report = selectors.profile_suggestion(profile=profile, days=days)
        suggestion = report["suggestion"]
        if not suggestion["enough_data"]:
            raise ValidationFailed(
                f"No suggestion for '{profile.name}' yet: {suggestion['reason']}",
                field_errors={"profile_id": ["Not enough settled outcomes."]},
            )
        before = _state(profile)
        tuning = ProfileTuning.objects.create(
            profile=profile,
            previous_weights=before["score_weights"],
            previous_threshold=before["handoff_min_score"],
            weights=suggestion["weights"],
            threshold=suggestion["threshold"],
            evidence={
                key: suggestion[key]
                for key in (
                    "n",
                    "replies",
                    "current_connects_per_reply",
                    "expected_connects_per_reply",
                    "expected_change_pct",
                    "auc_current",
                    "auc_suggested",
                    "kept",
                    "kept_replies",
                )
            }
            | {"days": days},
            applied_by=actor.authenticated_user,
        )
        profile.score_weights = suggestion["weights"]
        profile.handoff_min_score = suggestion["threshold"]
        profile.save(update_fields=["score_weights", "handoff_min_score", "updated_at"])
        audit_record(
            action="searchprofile.calibration_apply",
            object_type="searchprofile",
            object_id=profile.pk,
            actor=actor,
            before=before,
            after={**_state(profile), "tuning_id": tuning.pk, "evidence": tuning.evidence},
        )
    return tuning


def calibration_revert(*, tuning_id: int, actor: Actor) -> ProfileTuning:
    """Put back the weights and threshold a tuning replaced. Only the profile's latest applied tuning can be
    reverted (reverting an older one would silently undo the later ones)."""
    with transaction.atomic():
        tuning = ProfileTuning.objects.select_related("profile").filter(id=tuning_id).first()
        if tuning is None:
            raise NotFound(f"No calibration change with id {tuning_id}.", field_errors={"tuning_id": ["Not found."]})
        profile = SearchProfile.objects.select_for_update().get(id=tuning.profile_id)
        tuning = ProfileTuning.objects.select_for_update().get(id=tuning_id)
        if tuning.status != TuningStatus.APPLIED:
            raise InvalidTransition(f"Calibration change {tuning_id} was already reverted.")
        latest = ProfileTuning.objects.filter(profile=profile, status=TuningStatus.APPLIED).order_by(
            "-applied_at", "-id"
        )
        if latest.first().id != tuning.id:
            raise InvalidTransition(
                f"Calibration change {tuning_id} is not the latest for '{profile.name}'; revert the later ones first."
            )
        before = _state(profile)
        profile.score_weights = tuning.previous_weights
        profile.handoff_min_score = tuning.previous_threshold
        profile.save(update_fields=["score_weights", "handoff_min_score", "updated_at"])
        tuning.status = TuningStatus.REVERTED
        tuning.reverted_by = actor.authenticated_user
        tuning.reverted_at = timezone.now()
        tuning.save(update_fields=["status", "reverted_by", "reverted_at"])
        audit_record(
            action="searchprofile.calibration_revert",
            object_type="searchprofile",
            object_id=profile.pk,
            actor=actor,
            before=before,
            after={**_state(profile), "tuning_id": tuning.pk},
        )
    return tuning
