"""Root URLs: admin, the queue API, django-rq's dashboard."""

from pathlib import PurePosixPath

from django.conf import settings
from django.contrib import admin
from django.contrib.admin.views.decorators import staff_member_required
from django.urls import include, path, re_path
from django.utils.http import content_disposition_header
from django.views.generic import RedirectView
from django.views.static import serve
from drf_spectacular.views import SpectacularAPIView, SpectacularRedocView, SpectacularSwaggerSplitView

from queue_app.dashboard import queue_dashboard
from upwork_automation.console.business import business_dashboard
from upwork_automation.console.inbox import inbox_action, inbox_view

# Whatever sits under MEDIA_ROOT, a browser only downloads it: never rendered in our origin (a stored HTML or SVG
# would run its script with a staff session), never sniffed into another type, sandboxed if opened anyway.
MEDIA_HEADERS = {
    "X-Content-Type-Options": "nosniff",
    "Content-Security-Policy": "sandbox; default-src 'none'",
    "Cross-Origin-Resource-Policy": "same-origin",
}


@staff_member_required
def private_media(request, path):
    """Uploads and submission screenshots, for staff only, as downloads; MEDIA_ROOT is read per request."""
    response = serve(request, path, document_root=settings.MEDIA_ROOT)
    for header, value in MEDIA_HEADERS.items():
        response.headers[header] = value
    response.headers["Content-Disposition"] = content_disposition_header(True, PurePosixPath(path).name)
    return response


admin.site.site_header = "Upwork Automation"
admin.site.site_title = "Upwork Automation admin"
admin.site.index_title = "Pipeline and task queue"

# Unmatched /api/ URLs and crashes answer in the API's JSON error shape.
handler404 = "upwork_automation.api.page_not_found"
handler500 = "upwork_automation.api.server_error"

urlpatterns = [
    path("", RedirectView.as_view(url="/admin/", permanent=False)),
    path("admin/rq/", include("django_rq.urls")),
    path("admin/queue/dashboard/", admin.site.admin_view(queue_dashboard), name="queue-dashboard"),
    path("admin/inbox/", admin.site.admin_view(inbox_view), name="console-inbox"),
    path(
        "admin/inbox/<slug:name>/<int:object_id>/",
        admin.site.admin_view(inbox_action),
        name="console-inbox-action",
    ),
    path("admin/business/", admin.site.admin_view(business_dashboard), name="console-business"),
    path("admin/", admin.site.urls),
    # OpenAPI 3 schema and its docs (Swagger UI, Redoc; assets self-hosted): authenticated users only.
    # The split Swagger view serves its start-up script as a file, so the CSP needs no inline script.
    path("api/schema/", SpectacularAPIView.as_view(), name="api-schema"),
    path("api/docs/", SpectacularSwaggerSplitView.as_view(url_name="api-schema"), name="api-docs"),
    path("api/redoc/", SpectacularRedocView.as_view(url_name="api-schema"), name="api-redoc"),
    path("api/queue/", include("queue_app.urls")),
    path("api/jobs/", include("jobs.urls")),
    path("api/proposals/", include("proposals.urls")),
    path("api/applications/", include("applications.urls")),
    path("api/notifications/", include("notifications.urls")),
    # Uploads and submission screenshots: private, so staff only (not through whitenoise).
    re_path(rf"^{settings.MEDIA_URL.strip('/')}/(?P<path>.*)$", private_media, name="media"),
]
