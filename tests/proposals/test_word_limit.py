"""An OpenAI draft over PROPOSAL_WORD_LIMIT is trimmed (at a sentence end when one fits) and the trim is shown."""

from __future__ import annotations

import pytest

from proposals import services
from proposals.drafting import fit_word_limit

pytestmark = pytest.mark.django_db

# 35 words: the first two sentences are 18 words, the third takes it to 27.
OVER_LONG = (
    "Hi, I read your post about the logistics dashboard. I have built three Django admin dashboards on PostgreSQL.\n"
    "I write tests first and ship in small steps. Happy to start this week.\n\n"
    "Best regards,\nAda"
)


@pytest.fixture
def staff_client(client, django_user_model):
    client.force_login(django_user_model.objects.create_superuser("boss", "boss@example.com", "pw"))
    return client


def test_an_over_long_openai_draft_is_cut_after_the_last_sentence_that_fits(openai_stub, job, profile, settings):
    settings.PROPOSAL_WORD_LIMIT = 20
    openai_stub.state.text = OVER_LONG

    version = services.proposal_generate(job_id=job.id).versions.get()

    assert version.text == (
        "Hi, I read your post about the logistics dashboard. I have built three Django admin dashboards on PostgreSQL."
    )
    assert version.word_count == 18
    assert version.trimmed_from_words == 35


def test_a_first_sentence_over_the_limit_falls_back_to_cutting_words(openai_stub, job, profile, settings):
    settings.PROPOSAL_WORD_LIMIT = 10
    openai_stub.state.text = " ".join(f"word{n}" for n in range(40)) + "."

    version = services.proposal_generate(job_id=job.id).versions.get()

    assert version.text == "word0 word1 word2 word3 word4 word5 word6 word7 word8 word9…"
    assert version.word_count == 10
    assert version.trimmed_from_words == 40


def test_a_draft_within_the_limit_is_kept_whole_and_not_marked(openai_stub, job, profile, settings):
    settings.PROPOSAL_WORD_LIMIT = 35
    openai_stub.state.text = OVER_LONG

    version = services.proposal_generate(job_id=job.id).versions.get()

    assert version.text == OVER_LONG
    assert version.trimmed_from_words is None


def test_a_regenerated_draft_is_trimmed_too(openai_stub, job, profile, settings):
    settings.PROPOSAL_WORD_LIMIT = 30
    proposal = services.proposal_generate(job_id=job.id)
    openai_stub.state.text = OVER_LONG

    version = services.proposal_regenerate(proposal_id=proposal.id, feedback="Say more.")

    assert version.text.endswith("ship in small steps.")
    assert (version.word_count, version.trimmed_from_words) == (27, 35)


def test_line_breaks_and_closing_quotes_before_the_cut_are_kept():
    text = 'First line here.\nShe said "go ahead." Then more words follow here.'
    assert fit_word_limit(text, 7) == ('First line here.\nShe said "go ahead."', 12)


def test_the_api_and_the_admin_show_the_trim_to_the_reviewer(
    openai_stub, job, profile, settings, api_client, staff_client
):
    settings.PROPOSAL_WORD_LIMIT = 20
    openai_stub.state.text = OVER_LONG
    proposal = services.proposal_generate(job_id=job.id)

    detail = api_client.get(f"/api/proposals/proposals/{proposal.id}/").json()
    assert detail["text_trimmed_from_words"] == 35
    assert detail["versions"][0]["trimmed_from_words"] == 35

    page = staff_client.get(f"/admin/proposals/proposal/{proposal.id}/change/").content.decode()
    assert "the generated text had 35 words and was cut to 18" in page


def test_the_api_says_null_when_nothing_was_trimmed(openai_stub, job, profile, api_client):
    proposal = services.proposal_generate(job_id=job.id)
    assert api_client.get(f"/api/proposals/proposals/{proposal.id}/").json()["text_trimmed_from_words"] is None
