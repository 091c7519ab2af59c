"""URLs under /api/queue/."""

from django.urls import path
from rest_framework.routers import DefaultRouter

from queue_app import monitoring_views
from queue_app.views import (
    AuditEntryViewSet,
    ScheduledTaskProductPathViewSet,
    ScheduledTaskViewSet,
    TaskStatusView,
    TaskViewSet,
    WorkerProcessViewSet,
)

router = DefaultRouter()
router.register("tasks", TaskViewSet, basename="task")
router.register("scheduled", ScheduledTaskViewSet, basename="scheduled-task")
router.register("audit", AuditEntryViewSet, basename="audit-entry")
router.register("workers", WorkerProcessViewSet, basename="worker-process")

urlpatterns = [
    path("task/<str:task_id>", TaskStatusView.as_view(), name="task-status"),
    # The product's schedule list path (no trailing slash); the router serves scheduled/ and scheduled/{id}/.
    path(
        "scheduled",
        ScheduledTaskProductPathViewSet.as_view({"get": "list", "post": "create"}),
        name="scheduled-list-product",
    ),
    # Monitoring (queue_app/monitoring_views.py)
    path("stats", monitoring_views.QueueStatsView.as_view(), name="queue-stats"),
    path("metrics/health", monitoring_views.HealthView.as_view(), name="metrics-health"),
    path("metrics/types/", monitoring_views.TypeMetricsView.as_view(), name="metrics-types"),
    path("metrics/types/<str:task_type>/", monitoring_views.TypeAnalysisView.as_view(), name="metrics-type"),
    path("metrics/history/", monitoring_views.HistoryView.as_view(), name="metrics-history"),
    path("metrics/workers/", monitoring_views.WorkerMetricsView.as_view(), name="metrics-workers"),
    path("metrics/prometheus", monitoring_views.PrometheusView.as_view(), name="metrics-prometheus"),
    *router.urls,
]
