"""The dry-run capture shows the whole letter: text boxes are grown to their content before the full-page shot."""

from __future__ import annotations

import struct
from pathlib import Path

import pytest

from applications import services
from applications.models import Application
from proposals.models import ProposalVersion
from tests.applications.conftest import make_application

pytestmark = [pytest.mark.browser, pytest.mark.django_db]

LINES = 60


def png_size(path: str) -> tuple[int, int]:
    header = Path(path).read_bytes()[:24]
    assert header[:8] == b"\x89PNG\r\n\x1a\n"
    return struct.unpack(">II", header[16:24])


def test_dry_run_screenshot_is_tall_enough_for_every_line_of_a_long_letter(sandbox, browser_session, settings):
    settings.APPLICATIONS_DRY_RUN = True
    made = make_application(sandbox, 0, approve=False)
    long_letter = "\n".join(f"Line {n}: what I would do for you in week {n}." for n in range(1, LINES + 1))
    version = ProposalVersion.objects.get(proposal=made.proposal)
    answers = version.text[len(made.letter) :]  # keep the screening answers that follow the letter
    ProposalVersion.objects.filter(id=version.id).update(text=long_letter + answers)
    services.application_approve(application_id=made.application.id)

    result = services.application_submit(application_id=made.application.id)

    assert result.outcome == "dry_run"
    shot = Application.objects.get(id=made.application.id).screenshots.get()
    width, height = png_size(shot.image.path)
    assert width == 1280
    # Sixty lines of about 15 px each: the letter alone needs ~900 px; a textarea left at its default
    # size scrolls inside itself and the capture stays at the 900 px viewport, showing only the last lines.
    assert height > 900 + LINES * 12, (width, height)
