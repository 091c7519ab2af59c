"""What a submission leaves behind: screenshots, the form input, the browser session it used."""

from __future__ import annotations

from django.core.files.base import ContentFile
from django.utils import timezone

from applications import browser
from applications.models import Application, ApplicationScreenshot
from applications.services.common import SESSION_REASONS, GateRefused


def _save_shots(application_id: int, shots: list[browser.Shot]) -> list[ApplicationScreenshot]:
    saved = []
    stamp = timezone.now().strftime("%Y%m%dT%H%M%S%f")
    for index, shot in enumerate(shots):
        screenshot = ApplicationScreenshot(application_id=application_id, kind=shot.kind, page_url=shot.url[:1000])
        screenshot.image.save(
            f"application-{application_id}-{stamp}-{index}-{shot.kind}.png", ContentFile(shot.png), save=False
        )
        screenshot.save()
        saved.append(screenshot)
    return saved


def _form_input(application: Application) -> browser.FormInput:
    from proposals.models import Attachment

    attachments = {a.id: a for a in Attachment.objects.filter(id__in=application.attachment_ids)}
    missing = [i for i in application.attachment_ids if i not in attachments]
    if missing:
        raise GateRefused(f"Attachment(s) {missing} chosen at approval no longer exist.", gate="attachments")
    return browser.FormInput(
        upwork_id=application.job.upwork_id,
        job_type=application.job.job_type or "fixed",
        cover_letter=application.cover_letter,
        bid_amount=application.bid_amount,
        answers=list(application.screening_answers or []),
        attachment_paths=[attachments[i].file.path for i in application.attachment_ids],
        boost_connects=application.boost_connects,
    )


def _session():
    from jobs.selectors import browser_session_usable

    session = browser_session_usable()
    if session is None:
        raise GateRefused(
            "No active browser session: import one (manage.py jobs import-session) or reactivate it.",
            gate="browser_session",
        )
    return session


def _mark_session(session_id: int, stop: browser.BrowserStop) -> None:
    if stop.reason in SESSION_REASONS:
        from jobs.services import browser_session_mark_attention

        browser_session_mark_attention(session_id=session_id, reason=stop.reason, message=stop.message, url=stop.url)
