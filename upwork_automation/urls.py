"""Root URLs: admin, the queue API, django-rq's dashboard."""

from django.contrib import admin
from django.urls import include, path
from django.views.generic import RedirectView

from queue_app.dashboard import queue_dashboard

admin.site.site_header = "Upwork Automation"
admin.site.site_title = "Upwork Automation admin"
admin.site.index_title = "Pipeline and task queue"

urlpatterns = [
    path("", RedirectView.as_view(url="/admin/", permanent=False)),
    path("admin/rq/", include("django_rq.urls")),
    path("admin/queue/dashboard/", admin.site.admin_view(queue_dashboard), name="queue-dashboard"),
    path("admin/", admin.site.urls),
    path("api/queue/", include("queue_app.urls")),
    path("api/jobs/", include("jobs.urls")),
]
