"""Google Docs export through google-api-python-client: create, fill, file in a folder, share."""

from __future__ import annotations

import logging
from dataclasses import dataclass

from django.conf import settings

from proposals import conf

logger = logging.getLogger(__name__)

SCOPES = ["https://www.googleapis.com/auth/documents", "https://www.googleapis.com/auth/drive"]


@dataclass
class GoogleServices:
    docs: object
    drive: object


def build_services(*, http=None) -> GoogleServices:
    """Docs and Drive clients from the bundled discovery documents (no network to build them).

    `http` (an httplib2.Http-like object) replaces the service-account credentials: tests pass a
    googleapiclient.http.HttpMockSequence.
    """
    from googleapiclient.discovery import build

    if http is not None:
        options = {"http": http}
    else:
        from google.oauth2 import service_account

        credentials = service_account.Credentials.from_service_account_file(
            settings.GOOGLE_SERVICE_ACCOUNT_FILE, scopes=SCOPES
        )
        options = {"credentials": credentials}
    return GoogleServices(
        docs=build("docs", "v1", static_discovery=True, cache_discovery=False, **options),
        drive=build("drive", "v3", static_discovery=True, cache_discovery=False, **options),
    )


def document_url(document_id: str) -> str:
    return f"https://docs.google.com/document/d/{document_id}/edit"


def create_document(services: GoogleServices, *, title: str, text: str) -> str:
    """Create a document holding `text`; return its id."""
    retries = settings.GOOGLE_API_NUM_RETRIES
    document = services.docs.documents().create(body={"title": title}).execute(num_retries=retries)
    document_id = document["documentId"]
    services.docs.documents().batchUpdate(
        documentId=document_id,
        body={"requests": [{"insertText": {"location": {"index": 1}, "text": text}}]},
    ).execute(num_retries=retries)
    return document_id


def file_and_share(services: GoogleServices, *, document_id: str) -> str:
    """Move the document into GOOGLE_DRIVE_FOLDER_ID, share it as GOOGLE_SHARE_WITH says; return its URL."""
    retries = settings.GOOGLE_API_NUM_RETRIES
    folder_id = settings.GOOGLE_DRIVE_FOLDER_ID
    current = (
        services.drive.files()
        .get(fileId=document_id, fields="parents", supportsAllDrives=True)
        .execute(num_retries=retries)
    )
    moved = (
        services.drive.files()
        .update(
            fileId=document_id,
            addParents=folder_id,
            removeParents=",".join(p for p in current.get("parents", []) if p != folder_id),
            fields="id, parents, webViewLink",
            supportsAllDrives=True,
        )
        .execute(num_retries=retries)
    )
    role = settings.GOOGLE_SHARE_ROLE
    for grantee in conf.share_with():
        options = {"fileId": document_id, "supportsAllDrives": True, "fields": "id"}
        if grantee.lower() == "anyone":
            options["body"] = {"type": "anyone", "role": role}
        else:
            options["body"] = {"type": "user", "role": role, "emailAddress": grantee}
            options["sendNotificationEmail"] = False
        services.drive.permissions().create(**options).execute(num_retries=retries)
    return moved.get("webViewLink") or document_url(document_id)
