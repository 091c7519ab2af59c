"""The business dashboard: today and this month from jobs found to sent, Connects, caps, OpenAI; inbox links."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import pytest
from django.utils import timezone

from applications.models import Application
from applications.selectors import day_start, month_start
from core.actor import Actor
from jobs.models import Job
from proposals.models import ProposalVersion
from tests.applications.conftest import make_application
from tests.console.conftest import draft_for, good_job

pytestmark = pytest.mark.django_db

URL = "/admin/business/"


def test_business_dashboard_needs_staff(client):
    response = client.get(URL)
    assert response.status_code == 302 and "/admin/login/" in response["Location"]


def test_figures_for_today_and_this_month(sandbox, boss_client, settings):
    settings.APPLICATIONS_DAILY_CAP = 5
    settings.APPLICATIONS_MONTHLY_CONNECTS_BUDGET = 100
    settings.OPENAI_DAILY_COST_CAP_USD = Decimal("2.00")
    now = timezone.now()
    earlier_this_month = max(month_start(now), day_start(now) - timedelta(days=1)) + timedelta(minutes=1)
    old_in_month = earlier_this_month < day_start(now)

    good_job(score=90)  # found today, above the threshold
    good_job(score=10)  # found today, below
    older = good_job(score=95)
    Job.objects.filter(id=older.id).update(discovered_at=earlier_this_month)
    draft = draft_for(good_job(score=91))
    ProposalVersion.objects.filter(proposal=draft).update(estimated_cost=Decimal("0.25"))

    sent = make_application(sandbox, 1).application
    Application.objects.filter(id=sent.id).update(
        status="submitted",
        submitted_at=now,
        connects_spent=8,
        claimed_at=now,
        connects_reserved=8,
        counts_toward_caps=True,
    )
    waiting = make_application(sandbox, 2, approve=False).application
    ProposalVersion.objects.exclude(proposal=draft).update(estimated_cost=Decimal("0"))  # template drafts are free

    response = boss_client.get(URL)
    assert response.status_code == 200
    rows = {row["id"]: row for row in response.context["rows"]}
    jobs_today = Job.objects.filter(discovered_at__gte=day_start(now)).count()
    assert rows["found"]["today"] == jobs_today
    assert rows["found"]["month"] == jobs_today + (1 if old_in_month else 0)
    assert rows["above_threshold"]["today"] == 2  # 90 and 91; the sandbox jobs are unscored
    assert rows["drafted"]["today"] == 3  # the draft and the two proposals behind the applications
    assert rows["sent"]["today"] == 1 and rows["connects_spent"]["today"] == 8
    assert rows["openai_spend"]["today"] == "$0.2500"
    cards = {card["id"]: card for card in response.context["cards"]}
    assert cards["drafts"]["value"] == 1 and cards["drafts"]["url"] == "/admin/inbox/#inbox-drafts"
    assert cards["applications"]["value"] == 1  # the one awaiting approval
    assert cards["cap-left"]["value"] == 4
    assert cards["connects-left"]["value"] == 92
    assert cards["openai-left"]["value"] == "$1.75"
    html = response.content.decode()
    assert 'href="/admin/inbox/#inbox-applications"' in html
    assert waiting.status == "awaiting_approval"


def test_empty_dashboard_renders_zeroes(boss_client):
    response = boss_client.get(URL)
    assert response.status_code == 200
    assert all(row["today"] in (0, "$0.0000") for row in response.context["rows"])


def test_switches_show_their_effective_values_and_link_to_their_admin(boss_client, boss, settings):
    from queue_app.switches import switch_set

    settings.APPLICATIONS_DRY_RUN = False
    switch_set(key="applications.dry_run", value="on", actor=Actor(user=boss))

    response = boss_client.get(URL)

    switches = {row["key"]: row for row in response.context["switches"]}
    assert switches["applications.dry_run"]["shown"] == "on"
    assert switches["applications.dry_run"]["overridden"] is True
    assert 'href="/admin/queue_app/switch/"' in response.content.decode()
