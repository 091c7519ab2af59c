"""Monitoring API under /api/queue/: stats, health, per-type metrics, history, workers, Prometheus."""

from __future__ import annotations

import hmac

from django.conf import settings
from django.http import HttpResponse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import permissions, serializers
from rest_framework.response import Response
from rest_framework.views import APIView

from core.errors import NotFound, ValidationFailed
from core.permissions import can_read
from queue_app import health, prometheus, selectors

MAX_HOURS = 24 * 90


class WindowSerializer(serializers.Serializer):
    hours = serializers.IntegerField(required=False, default=24, min_value=1, max_value=MAX_HOURS)
    task_type = serializers.CharField(required=False, max_length=100)


HOURS = OpenApiParameter("hours", int, description="Window in hours (1 to 2160, default 24).")
TASK_TYPE = OpenApiParameter("task_type", str, description="One task type; all types when left out.")
JSON_OBJECT = {200: OpenApiTypes.OBJECT}


def _window(request) -> dict:
    serializer = WindowSerializer(data=request.query_params)
    if not serializer.is_valid():
        raise ValidationFailed("Invalid query parameters.", field_errors=serializer.errors)
    return serializer.validated_data


class QueueStatsView(APIView):
    """GET /api/queue/stats: counts by status, queue and type; depths; oldest waiting; workers."""

    @extend_schema(responses=JSON_OBJECT, summary="Queue statistics")
    def get(self, request):
        return Response(selectors.queue_stats())


class HealthView(APIView):
    """GET /api/queue/metrics/health: score 0-100, status and the alerts with figure and threshold."""

    @extend_schema(responses=JSON_OBJECT, summary="Health score and alerts")
    def get(self, request):
        return Response(health.queue_health())


class TypeMetricsView(APIView):
    """GET /api/queue/metrics/types/?hours=24: performance of every task type over the window."""

    @extend_schema(parameters=[HOURS], responses=JSON_OBJECT, summary="Performance per task type")
    def get(self, request):
        window = _window(request)
        return Response({"hours": window["hours"], "types": selectors.type_performance(hours=window["hours"])})


class TypeAnalysisView(APIView):
    """GET /api/queue/metrics/types/{task_type}/?hours=24: figures, hourly buckets and trend of one type."""

    @extend_schema(
        operation_id="queue_metrics_type_retrieve",
        parameters=[HOURS],
        responses=JSON_OBJECT,
        summary="One task type: figures, buckets, trend",
    )
    def get(self, request, task_type):
        window = _window(request)
        if not selectors.task_type_known(task_type):
            raise NotFound(f"No task type '{task_type}'.")
        return Response(selectors.type_analysis(task_type=task_type, hours=window["hours"]))


class HistoryView(APIView):
    """GET /api/queue/metrics/history/?hours=168&task_type=X: hourly snapshots, oldest first."""

    @extend_schema(parameters=[HOURS, TASK_TYPE], responses=JSON_OBJECT, summary="Hourly history")
    def get(self, request):
        window = _window(request)
        return Response(
            {
                "hours": window["hours"],
                "task_type": window.get("task_type"),
                "buckets": selectors.snapshot_history(hours=window["hours"], task_type=window.get("task_type")),
            }
        )


class WorkerMetricsView(APIView):
    """GET /api/queue/metrics/workers/?hours=24: per worker tasks, failures, average time, heartbeat."""

    @extend_schema(parameters=[HOURS], responses=JSON_OBJECT, summary="Worker performance")
    def get(self, request):
        window = _window(request)
        return Response({"hours": window["hours"], "workers": selectors.worker_performance(hours=window["hours"])})


class IsAuthenticatedOrMetricsToken(permissions.BasePermission):
    """A user with an API role (viewer, operator, staff), or `Authorization: Bearer $PROMETHEUS_TOKEN` (when set)."""

    def has_permission(self, request, view) -> bool:
        if can_read(request.user):
            return True
        expected = settings.PROMETHEUS_TOKEN
        header = request.headers.get("Authorization", "")
        scheme, _, token = header.partition(" ")
        # Compared as bytes: compare_digest refuses non-ASCII str (a header may carry any Latin-1 text).
        return (
            bool(expected)
            and scheme.lower() == "bearer"
            and hmac.compare_digest(token.strip().encode(), expected.encode())
        )


class PrometheusView(APIView):
    """GET /api/queue/metrics/prometheus: the Prometheus text format."""

    permission_classes = [IsAuthenticatedOrMetricsToken]

    @extend_schema(responses={(200, "text/plain"): OpenApiTypes.STR}, summary="Prometheus metrics")
    def get(self, request):
        return HttpResponse(prometheus.render(), content_type=prometheus.CONTENT_TYPE)
