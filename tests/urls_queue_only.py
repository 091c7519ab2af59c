"""URLs of the queue installed without the product (tests/settings_queue_only.py): admin, the queue API, django-rq."""

from django.contrib import admin
from django.urls import include, path

from queue_app.dashboard import queue_dashboard

urlpatterns = [
    path("admin/rq/", include("django_rq.urls")),
    path("admin/queue/dashboard/", admin.site.admin_view(queue_dashboard), name="queue-dashboard"),
    path("admin/", admin.site.urls),
    path("api/queue/", include("queue_app.urls")),
]
