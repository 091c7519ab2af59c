"""DRF views for tasks: parse, call one service or selector, respond."""

from drf_spectacular.utils import extend_schema, extend_schema_view
from rest_framework import mixins, status, viewsets
from rest_framework.decorators import action
from rest_framework.response import Response
from rest_framework.views import APIView

from core.actor import Actor
from core.models import AuditEntry
from core.permissions import IsOperatorOrStaffReadOnly
from queue_app import scheduling, services
from queue_app.filters import AuditEntryFilter, TaskFilter, WorkerProcessFilter
from queue_app.models import ScheduledTask, Task, WorkerProcess
from queue_app.serializers import (
    AuditEntrySerializer,
    ScheduledTaskSerializer,
    ScheduledTaskWriteSerializer,
    TaskEnqueueSerializer,
    TaskSerializer,
    WorkerProcessSerializer,
)


class TaskViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet):
    """Tasks: list, read, enqueue (POST), and the cancel and retry actions."""

    queryset = Task.objects.select_related("requested_by")
    serializer_class = TaskSerializer
    filterset_class = TaskFilter
    search_fields = ["task_type", "=idempotency_key"]
    ordering_fields = ["created_at", "started_at", "finished_at", "priority", "status", "duration"]
    ordering = ["-created_at"]

    @extend_schema(request=TaskEnqueueSerializer, responses={201: TaskSerializer})
    def create(self, request):
        serializer = TaskEnqueueSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        task = services.task_enqueue(**serializer.validated_data, actor=Actor.from_request(request))
        return Response(TaskSerializer(task).data, status=status.HTTP_201_CREATED)

    @extend_schema(request=None, responses=TaskSerializer)
    @action(detail=True, methods=["post"])
    def cancel(self, request, pk=None):
        task = services.task_cancel(task_id=pk, actor=Actor.from_request(request))
        return Response(TaskSerializer(task).data)

    @extend_schema(request=None, responses=TaskSerializer)
    @action(detail=True, methods=["post"])
    def retry(self, request, pk=None):
        task = services.task_retry(task_id=pk, actor=Actor.from_request(request))
        return Response(TaskSerializer(task).data)


class TaskStatusView(APIView):
    """GET /api/queue/task/{task_id}: the product's original status path."""

    @extend_schema(responses=TaskSerializer)
    def get(self, request, task_id):
        return Response(TaskSerializer(services.task_get(task_id=task_id)).data)


class ScheduledTaskViewSet(viewsets.ModelViewSet):
    """Schedules: list, read, create, update, delete, and the enable, disable and run actions.

    Also served at GET /api/queue/scheduled (the product's path, no trailing slash).
    """

    queryset = ScheduledTask.objects.select_related("last_task")
    serializer_class = ScheduledTaskSerializer
    filterset_fields = ["enabled", "task_type"]
    search_fields = ["name", "task_type", "description"]
    ordering_fields = ["name", "next_run_at", "last_run_at", "created_at"]
    ordering = ["name"]

    @extend_schema(request=ScheduledTaskWriteSerializer, responses={201: ScheduledTaskSerializer})
    def create(self, request, *args, **kwargs):
        serializer = ScheduledTaskWriteSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        schedule = scheduling.schedule_create(**serializer.validated_data, actor=Actor.from_request(request))
        return Response(ScheduledTaskSerializer(schedule).data, status=status.HTTP_201_CREATED)

    @extend_schema(request=ScheduledTaskWriteSerializer, responses=ScheduledTaskSerializer)
    def update(self, request, *args, **kwargs):
        serializer = ScheduledTaskWriteSerializer(data=request.data, partial=kwargs.get("partial", False))
        serializer.is_valid(raise_exception=True)
        schedule = scheduling.schedule_update(
            schedule_id=self.get_object().pk, **serializer.validated_data, actor=Actor.from_request(request)
        )
        return Response(ScheduledTaskSerializer(schedule).data)

    @extend_schema(request=ScheduledTaskWriteSerializer, responses=ScheduledTaskSerializer)
    def partial_update(self, request, *args, **kwargs):
        return super().partial_update(request, *args, **kwargs)

    def destroy(self, request, *args, **kwargs):
        scheduling.schedule_delete(schedule_id=self.get_object().pk, actor=Actor.from_request(request))
        return Response(status=status.HTTP_204_NO_CONTENT)

    @extend_schema(request=None, responses=ScheduledTaskSerializer)
    @action(detail=True, methods=["post"])
    def enable(self, request, pk=None):
        schedule = scheduling.schedule_enable(schedule_id=self.get_object().pk, actor=Actor.from_request(request))
        return Response(ScheduledTaskSerializer(schedule).data)

    @extend_schema(request=None, responses=ScheduledTaskSerializer)
    @action(detail=True, methods=["post"])
    def disable(self, request, pk=None):
        schedule = scheduling.schedule_disable(schedule_id=self.get_object().pk, actor=Actor.from_request(request))
        return Response(ScheduledTaskSerializer(schedule).data)

    @extend_schema(request=None, responses={201: TaskSerializer})
    @action(detail=True, methods=["post"])
    def run(self, request, pk=None):
        task = scheduling.schedule_run_now(schedule_id=self.get_object().pk, actor=Actor.from_request(request))
        return Response(TaskSerializer(task).data, status=status.HTTP_201_CREATED)


@extend_schema_view(
    list=extend_schema(operation_id="queue_scheduled_list_product_path"),
    create=extend_schema(operation_id="queue_scheduled_create_product_path"),
)
class ScheduledTaskProductPathViewSet(ScheduledTaskViewSet):
    """GET/POST /api/queue/scheduled: the product's schedule list path (no trailing slash)."""


class AuditEntryViewSet(viewsets.ReadOnlyModelViewSet):
    """The audit log, read-only, for operators and staff: who changed what, when, from where, before/after."""

    queryset = AuditEntry.objects.all()
    serializer_class = AuditEntrySerializer
    permission_classes = [IsOperatorOrStaffReadOnly]
    filterset_class = AuditEntryFilter
    search_fields = ["actor_name", "action", "=object_id"]
    ordering_fields = ["created_at", "action", "actor_name"]
    ordering = ["-created_at"]


class WorkerProcessViewSet(viewsets.ReadOnlyModelViewSet):
    """Worker processes as their PostgreSQL heartbeats record them (live and stopped)."""

    queryset = WorkerProcess.objects.all()
    serializer_class = WorkerProcessSerializer
    filterset_class = WorkerProcessFilter
    search_fields = ["name", "host"]
    ordering_fields = ["last_heartbeat", "started_at", "name", "tasks_done", "tasks_failed"]
    ordering = ["-last_heartbeat"]
