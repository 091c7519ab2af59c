"""The safety gates refuse in the service that submits, before any browser opens."""

from __future__ import annotations

import json
import subprocess
import sys
from datetime import timedelta

import pytest
from django.utils import timezone

from applications import conf, selectors, services
from applications.models import Application, ApplicationStatus
from applications.services import gates
from core.errors import InvalidTransition, ValidationFailed
from tests.applications.conftest import make_application
from tests.conftest import ROOT, subprocess_env

pytestmark = pytest.mark.django_db


def pages_served(sandbox) -> int:
    return sandbox.state.counters["pages"]


def submit_refused(sandbox, application_id: int) -> services.GateRefused:
    before = pages_served(sandbox)
    with pytest.raises(services.GateRefused) as refused:
        services.application_submit(application_id=application_id)
    assert pages_served(sandbox) == before, "a refused submission must not open any page"
    return refused.value


def counted(application_id: int, *, now=None, **fields) -> None:
    """Pretend an earlier submission took a slot (as application_claim does)."""
    Application.objects.filter(id=application_id).update(
        status=ApplicationStatus.SUBMITTED, counts_toward_caps=True, claimed_at=now or timezone.now(), **fields
    )


def test_the_defaults_are_safe():
    """With no APPLICATIONS_* variables set, the settings a fresh process loads send nothing on their own."""
    env = {key: value for key, value in subprocess_env().items() if not key.startswith("APPLICATIONS_")}
    code = (
        "import json, django; django.setup(); from applications import conf; print(json.dumps(conf.safety_settings()))"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True, timeout=60, check=False
    )
    assert result.returncode == 0, result.stderr
    defaults = json.loads(result.stdout)

    assert set(defaults) == set(conf.SAFETY_SETTINGS)
    assert defaults["APPLICATIONS_ENABLED"] is False
    assert defaults["APPLICATIONS_REQUIRE_APPROVAL"] is True
    assert defaults["APPLICATIONS_DRY_RUN"] is False
    assert defaults["APPLICATIONS_BOOST_ENABLED"] is False
    assert defaults["APPLICATIONS_MAX_BOOST_CONNECTS"] == 0
    assert defaults["APPLICATIONS_DAILY_CAP"] == 10


def test_the_safety_settings_are_read_when_called(settings):
    settings.APPLICATIONS_DAILY_CAP = 3
    settings.APPLICATIONS_ENABLED = True
    assert conf.safety_settings()["APPLICATIONS_DAILY_CAP"] == 3
    assert conf.safety_settings()["APPLICATIONS_ENABLED"] is True


def test_kill_switch_blocks_submission(sandbox, browser_session, settings):
    settings.APPLICATIONS_ENABLED = False
    made = make_application(sandbox, 1)

    refused = submit_refused(sandbox, made.application.id)

    assert refused.gate == "kill_switch"
    application = Application.objects.get(id=made.application.id)
    assert application.status == ApplicationStatus.APPROVED
    assert "APPLICATIONS_ENABLED" in application.error


def test_approval_gate_blocks_an_unapproved_application(sandbox, browser_session):
    made = make_application(sandbox, 1, approve=False)

    refused = submit_refused(sandbox, made.application.id)

    assert refused.gate == "status"
    assert Application.objects.get(id=made.application.id).status == ApplicationStatus.AWAITING_APPROVAL


def test_approval_gate_blocks_a_row_marked_approved_without_a_persons_approval(sandbox, browser_session):
    made = make_application(sandbox, 1)
    Application.objects.filter(id=made.application.id).update(approved_at=None)

    assert submit_refused(sandbox, made.application.id).gate == "approval"


def test_without_required_approval_creation_approves_at_once(sandbox, settings):
    settings.APPLICATIONS_REQUIRE_APPROVAL = False
    made = make_application(sandbox, 1, approve=False)

    assert made.application.status == ApplicationStatus.APPROVED
    assert made.application.approved_by is None


def test_daily_cap_refuses_once_reached(sandbox, browser_session, settings):
    settings.APPLICATIONS_DAILY_CAP = 1
    earlier = make_application(sandbox, 2)
    counted(earlier.application.id, connects_reserved=12)
    made = make_application(sandbox, 1)

    assert submit_refused(sandbox, made.application.id).gate == "daily_cap"


def test_yesterdays_submissions_do_not_count_toward_todays_cap(sandbox, browser_session, settings):
    settings.APPLICATIONS_DAILY_CAP = 1
    earlier = make_application(sandbox, 2)
    counted(earlier.application.id, now=timezone.now() - timedelta(days=1, hours=1))
    made = make_application(sandbox, 1)
    application = Application.objects.get(id=made.application.id)

    usage = selectors.usage_read(now=timezone.now(), exclude_id=application.id)
    services.gates_check(application, usage=usage, now=timezone.now())  # does not raise
    assert usage.today == 0


def test_monthly_connects_budget_refuses_what_does_not_fit(sandbox, browser_session, settings):
    settings.APPLICATIONS_MONTHLY_CONNECTS_BUDGET = 20
    earlier = make_application(sandbox, 2)
    counted(earlier.application.id, connects_reserved=12)
    made = make_application(sandbox, 1)  # needs 8 more: 20 would be fine, 21 not
    Application.objects.filter(id=made.application.id).update(connects_required=9)

    refused = submit_refused(sandbox, made.application.id)

    assert refused.gate == "monthly_connects"
    assert "12 of the monthly budget of 20" in refused.message


def test_per_job_connects_maximum_refuses_an_expensive_job(sandbox, browser_session, settings):
    settings.APPLICATIONS_MAX_CONNECTS_PER_JOB = 12
    made = make_application(sandbox, 3)  # the sandbox job asks 16 Connects

    assert submit_refused(sandbox, made.application.id).gate == "per_job_connects"


def test_unknown_connects_reserve_the_per_job_maximum(sandbox, settings):
    settings.APPLICATIONS_MAX_CONNECTS_PER_JOB = 14
    made = make_application(sandbox, 1, connects=None)
    Application.objects.filter(id=made.application.id).update(connects_required=None)

    assert services.connects_needed(Application.objects.get(id=made.application.id)) == 14


def test_gap_refuses_with_the_time_left(sandbox, browser_session):
    earlier = make_application(sandbox, 2)
    counted(earlier.application.id, gap_until=timezone.now() + timedelta(seconds=300))
    made = make_application(sandbox, 1)

    refused = submit_refused(sandbox, made.application.id)

    assert refused.gate == "gap"
    assert 290 < refused.wait_seconds <= 300


def test_the_gap_is_the_minimum_plus_jitter(sandbox, settings):
    settings.APPLICATIONS_MIN_GAP_SECONDS = 600
    settings.APPLICATIONS_GAP_JITTER_SECONDS = 300
    now = timezone.now()
    gaps = {(gates._next_gap(now) - now).total_seconds() for _ in range(50)}

    assert all(600 <= gap <= 900 for gap in gaps)
    assert len(gaps) > 1


def test_boost_is_refused_unless_enabled(sandbox):
    made = make_application(sandbox, 1, approve=False)

    with pytest.raises(ValidationFailed, match="APPLICATIONS_BOOST_ENABLED"):
        services.application_create(proposal_id=made.proposal.id, boost_connects=4)
    Application.objects.filter(id=made.application.id).update(boost_connects=4)
    with pytest.raises(ValidationFailed, match="Boosting is off"):
        services.application_approve(application_id=made.application.id)


def test_no_browser_session_refuses_and_a_scheduled_application_goes_back_to_approved(sandbox):
    made = make_application(sandbox, 1)
    services.application_schedule(application_id=made.application.id)

    assert submit_refused(sandbox, made.application.id).gate == "browser_session"
    application = Application.objects.get(id=made.application.id)
    assert application.status == ApplicationStatus.APPROVED
    assert "No active browser session" in application.error


def test_one_application_per_job(sandbox):
    made = make_application(sandbox, 1)

    with pytest.raises(InvalidTransition, match="one per job"):
        services.application_create(proposal_id=made.proposal.id)


def test_unfinished_answers_cannot_be_approved(sandbox):
    from proposals.models import ProposalVersion

    made = make_application(sandbox, 0, approve=False)
    ProposalVersion.objects.filter(proposal=made.proposal).update(
        text="Hi, a letter.\n\nScreening answers:\nQ: Describe your recent experience with similar projects.\n"
        "A: [answer before sending]\nQ: What is your availability?\nA: Full time."
    )

    with pytest.raises(ValidationFailed, match="No answer to: Describe your recent experience"):
        services.application_approve(application_id=made.application.id)
    services.application_approve(
        application_id=made.application.id,
        screening_answers=[{"question": "Describe your recent experience with similar projects.", "answer": "Two."}],
    )
    application = Application.objects.get(id=made.application.id)
    assert application.cover_letter == "Hi, a letter."
    assert application.screening_answers == [
        {"question": "Describe your recent experience with similar projects.", "answer": "Two."},
        {"question": "What is your availability?", "answer": "Full time."},
    ]


def test_a_cancelled_application_is_never_sent(sandbox, browser_session):
    made = make_application(sandbox, 1)
    services.application_cancel(application_id=made.application.id)

    result = services.application_submit(application_id=made.application.id)

    assert result.outcome == "skipped"
    assert sandbox.state.submissions == []


def test_an_interrupted_attempt_is_not_resent(sandbox, browser_session):
    made = make_application(sandbox, 1)
    Application.objects.filter(id=made.application.id).update(status=ApplicationStatus.SUBMITTING)

    with pytest.raises(services.SubmissionStopped):
        services.application_submit(application_id=made.application.id)

    assert Application.objects.get(id=made.application.id).status == ApplicationStatus.NEEDS_ATTENTION
    assert sandbox.state.submissions == []
