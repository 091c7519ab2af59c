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
    assert f'"{job.title}"' in text
    assert "Django and PostgreSQL" in text  # shared skills only
    assert "React" not in text.split("For example")[0]  # not claimed as a fit: the job does not ask for it
    assert "Moved a PostgreSQL database of 2 TB with no downtime" in text  # a relevant achievement, verbatim
    assert "My rate is $85.00 per hour." in text
    assert "Q: What is your availability?\nA: [answer before sending]" in text
    assert text.rstrip().endswith("A: [answer before sending]")
    assert "\nAda Lovelace\n\nScreening answers:" in text  # signed, then the answers


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


def _letter_without_the_job(text: str, job) -> str:
    """The letter with the job's own words taken out, so only the drafter's phrasing is compared."""
    return text.replace(job.title, "<title>")


def test_two_jobs_do_not_get_the_same_paragraph(offline, profile):
    jobs = [
        baker.make(
            Job,
            upwork_id=f"~01vary{n}",
            title=f"Django project {n}",
            description="Build a Django app on PostgreSQL.",
            skills=["Django", "PostgreSQL"],
            job_type="hourly",
        )
        for n in range(4)
    ]
    texts = [draft_with_template(DraftRequest(job=job, profile=profile, word_limit=250)).text for job in jobs]
    normalised = {_letter_without_the_job(text, job) for text, job in zip(texts, jobs, strict=True)}
    assert len(normalised) == 4  # four jobs, four different letters beyond the title
    openings = {text.splitlines()[0] for text in texts}
    layouts = {text.count("\n\n") for text in texts}
    assert len(openings) > 1 or len(layouts) > 1  # the opening or the paragraph structure varies
    again = draft_with_template(DraftRequest(job=jobs[0], profile=profile, word_limit=250)).text
    assert again == texts[0]  # deterministic per job


def test_the_profiles_writing_rules_show_in_the_letter(offline, profile, job):
    job.description = "We need a Django developer to build an admin dashboard on PostgreSQL."
    job.job_type = "fixed"
    job.save()
    profile.writing_rules = "Ask one concrete question.\nMention that I sign an NDA.\nSign with my first name only."
    text = draft_with_template(DraftRequest(job=job, profile=profile, word_limit=250)).text
    letter = text.split("Screening answers:")[0]
    assert letter.count("?") == 1  # exactly one question, asked by the letter itself
    assert "I am happy to sign an NDA." in letter
    assert letter.rstrip().endswith("\nAda") and "Ada Lovelace" not in letter

    profile.writing_rules = "No bullet lists."
    plain = draft_with_template(DraftRequest(job=job, profile=profile, word_limit=250)).text
    assert "?" not in plain and "NDA" not in plain and plain.rstrip().endswith("Ada Lovelace")


def test_a_word_limit_rule_tightens_the_limit(offline, profile, job):
    profile.writing_rules = "Keep it under 60 words."
    text = draft_with_template(DraftRequest(job=job, profile=profile, word_limit=250)).text
    assert len(text.split()) <= 60
