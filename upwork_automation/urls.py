"""Root URLs: admin, the queue API, django-rq's dashboard."""

from django.contrib import admin
from django.urls import include, path
from django.views.generic import RedirectView

admin.site.site_header = "Upwork Automation"
admin.site.site_title = "Upwork Automation admin"
admin.site.index_title = "Pipeline and task queue"

urlpatterns = [
    path("", RedirectView.as_view(url="/admin/", permanent=False)),
    path("admin/rq/", include("django_rq.urls")),
    path("admin/", admin.site.urls),
    path("api/queue/", include("queue_app.urls")),
]
