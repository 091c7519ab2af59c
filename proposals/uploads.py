"""Portfolio uploads: the types allowed (checked by content, not by name), the size limit, random stored paths."""

from __future__ import annotations

import uuid
from pathlib import PurePath

import filetype
from django.conf import settings
from django.core.exceptions import SuspiciousFileOperation, ValidationError
from django.utils import timezone
from django.utils.deconstruct import deconstructible
from django.utils.text import get_valid_filename

# What a freelancer attaches to a proposal: documents and pictures. Content type -> the extensions its name may end
# in; the stored name gets the first. Nothing a browser would run (HTML, SVG, XML, JavaScript) and no plain text,
# which has no signature to tell it from HTML.
ALLOWED_TYPES: dict[str, tuple[str, ...]] = {
    "application/pdf": ("pdf",),
    "image/png": ("png",),
    "image/jpeg": ("jpg", "jpeg"),
    "image/gif": ("gif",),
    "image/webp": ("webp",),
    "application/vnd.openxmlformats-officedocument.wordprocessingml.document": ("docx",),
    "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet": ("xlsx",),
    "application/vnd.openxmlformats-officedocument.presentationml.presentation": ("pptx",),
}
ALLOWED_EXTENSIONS = sorted({extension for extensions in ALLOWED_TYPES.values() for extension in extensions})
SNIFF_BYTES = 8192  # filetype looks at the head of the file only


def sniff_content_type(upload) -> str | None:
    """The type the file's first bytes declare (magic numbers), or None when they match no known type."""
    position = upload.tell() if hasattr(upload, "tell") else None
    upload.seek(0)
    head = upload.read(SNIFF_BYTES)
    upload.seek(position or 0)
    kind = filetype.guess(head)
    return kind.mime if kind is not None else None


def _extension(name: str) -> str:
    return PurePath(name).suffix.lower().lstrip(".")


@deconstructible
class AttachmentFileValidator:
    """Refuse a file over ATTACHMENT_MAX_BYTES, or whose content is not an allowed type or not the one its name says."""

    def __call__(self, upload) -> None:
        if getattr(upload, "_committed", False):
            return  # already stored (an edit that keeps the file): it was checked when uploaded
        limit = settings.ATTACHMENT_MAX_BYTES
        if upload.size is not None and upload.size > limit:
            raise ValidationError(
                f"The file is {upload.size} bytes; attachments may be at most {limit} bytes (ATTACHMENT_MAX_BYTES).",
                code="file_too_large",
            )
        content_type = sniff_content_type(upload)
        allowed = ", ".join(ALLOWED_EXTENSIONS)
        if content_type not in ALLOWED_TYPES:
            raise ValidationError(
                f"The file's content is not an allowed type (allowed: {allowed}); it is checked by content, "
                "not by name.",
                code="file_type",
            )
        extension = _extension(upload.name or "")
        if extension not in ALLOWED_TYPES[content_type]:
            raise ValidationError(
                f"The file's content is {ALLOWED_TYPES[content_type][0].upper()} but its name ends in "
                f"'.{extension}'; rename it to match.",
                code="file_extension",
            )

    def __eq__(self, other) -> bool:
        return isinstance(other, AttachmentFileValidator)


def attachment_upload_to(instance, filename: str) -> str:
    """attachments/YYYY/MM/<random folder>/<cleaned name>.<ext>: unguessable and never colliding, while the file
    keeps a readable name (it is uploaded to Upwork under it); only the validated extension is kept as given."""
    now = timezone.now()
    path = PurePath(filename)
    extension = path.suffix.lower().lstrip(".")
    suffix = f".{extension}" if extension in ALLOWED_EXTENSIONS else ""
    try:
        stem = get_valid_filename(path.stem)[:80].strip(".") or "attachment"
    except SuspiciousFileOperation:
        stem = "attachment"
    return f"attachments/{now:%Y/%m}/{uuid.uuid4().hex}/{stem}{suffix}"
