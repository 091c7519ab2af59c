"""The template drafter: offline, deterministic, built only from the profile and the job, within the word limit."""

from __future__ import annotations

import pytest
from model_bakery import baker

from jobs.models import Job
from proposals import services
from proposals.drafting import DraftRequest, draft_with_template
from proposals.models import ProposalVersion

pytestmark = pytest.mark.django_db


@pytest.fixture
def offline(settings):
    """Template chosen on purpose; OpenAI unconfigured and unreachable, so any call would fail loudly."""
    settings.PROPOSAL_GENERATOR = "template"
    settings.OPENAI_API_KEY = ""
    settings.OPENAI_BASE_URL = "http://127.0.0.1:9/v1"


def test_the_template_draft_follows_the_posts_instructions_and_uses_only_profile_facts(offline, job, profile):
    proposal = services.proposal_generate(job_id=job.id, screening_questions=["What is your availability?"])

    version = proposal.versions.get()
    text = version.text
    assert (version.source, version.model, version.estimated_cost) == ("template", "", 0)
    lines = text.splitlines()
    assert lines[0] == "PINEAPPLE"  # the code word the post asked for, first
    assert "You asked: Have you built a multi-tenant Django app before?" in text
    assert f'I read your post "{job.title}".' in text
    assert "I work with Django and PostgreSQL, which this job needs." in text  # shared skills only
    assert "React" not in text.split("For example")[0]  # not claimed as a fit: the job does not ask for it
    assert "Moved a PostgreSQL database of 2 TB with no downtime" in text  # a relevant achievement, verbatim
    assert "My rate is $85.00 per hour." in text
    assert "Q: What is your availability?\nA: [answer before sending]" in text
    assert text.rstrip().endswith("A: [answer before sending]")
    assert "Best regards,\nAda Lovelace" in text


def test_the_same_inputs_give_the_same_text(offline, job, profile):
    request = DraftRequest(job=job, profile=profile, word_limit=250)
    assert draft_with_template(request).text == draft_with_template(request).text


def test_the_word_limit_drops_optional_parts_first(offline, profile):
    job = baker.make(Job, title="Django fix", description="Fix a Django bug.", skills=["Django"], job_type="fixed")
    long = draft_with_template(DraftRequest(job=job, profile=profile, word_limit=250)).text
    short = draft_with_template(DraftRequest(job=job, profile=profile, word_limit=40)).text
    assert "For example" in long and "I build Django back ends" in long
    assert len(short.split()) <= 40
    assert "For example" not in short
    assert short.endswith("Ada Lovelace")  # still signed


def test_a_generator_can_be_chosen_per_task_even_when_openai_is_the_default(settings, job, profile):
    settings.PROPOSAL_GENERATOR = "openai"
    settings.OPENAI_API_KEY = ""
    proposal = services.proposal_generate(job_id=job.id, generator="template")
    assert proposal.versions.get().source == "template"
    assert ProposalVersion.objects.count() == 1
