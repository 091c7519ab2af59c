"""DRF views for tasks: parse, call one service or selector, respond."""

from rest_framework import mixins, status, viewsets
from rest_framework.decorators import action
from rest_framework.response import Response
from rest_framework.views import APIView

from queue_app import services
from queue_app.filters import TaskFilter
from queue_app.models import Task, TaskSource
from queue_app.serializers import TaskEnqueueSerializer, TaskSerializer


class TaskViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet):
    """Tasks: list, read, enqueue (POST), and the cancel and retry actions."""

    queryset = Task.objects.select_related("requested_by")
    serializer_class = TaskSerializer
    filterset_class = TaskFilter
    search_fields = ["task_type", "=idempotency_key"]
    ordering_fields = ["created_at", "started_at", "finished_at", "priority", "status", "duration"]
    ordering = ["-created_at"]

    def create(self, request):
        serializer = TaskEnqueueSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        task = services.task_enqueue(**serializer.validated_data, source=TaskSource.API, user=request.user)
        return Response(TaskSerializer(task).data, status=status.HTTP_201_CREATED)

    @action(detail=True, methods=["post"])
    def cancel(self, request, pk=None):
        task = services.task_cancel(task_id=pk, source=TaskSource.API, user=request.user)
        return Response(TaskSerializer(task).data)

    @action(detail=True, methods=["post"])
    def retry(self, request, pk=None):
        task = services.task_retry(task_id=pk, source=TaskSource.API, user=request.user)
        return Response(TaskSerializer(task).data)


class TaskStatusView(APIView):
    """GET /api/queue/task/{task_id}: the product's original status path."""

    def get(self, request, task_id):
        return Response(TaskSerializer(services.task_get(task_id=task_id)).data)
