"""URLs under /api/queue/."""

from django.urls import path
from rest_framework.routers import DefaultRouter

from queue_app.views import TaskStatusView, TaskViewSet

router = DefaultRouter()
router.register("tasks", TaskViewSet, basename="task")

urlpatterns = [
    path("task/<str:task_id>", TaskStatusView.as_view(), name="task-status"),
    *router.urls,
]
