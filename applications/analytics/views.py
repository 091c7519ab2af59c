"""/api/analytics/: funnel, rates, spend and calibration (viewer role); applying or reverting a suggestion
(operator role, audited); the CSV export."""

from __future__ import annotations

import csv

from django.conf import settings
from django.http import StreamingHttpResponse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import serializers, status
from rest_framework.response import Response
from rest_framework.views import APIView

from applications.analytics import background, selectors, services
from core.actor import Actor
from jobs.models import ProfileTuning

MAX_DAYS = 3650
DAYS = OpenApiParameter("days", int, description=f"Look back this many days (1-{MAX_DAYS}).")


class WindowSerializer(serializers.Serializer):
    days = serializers.IntegerField(min_value=1, max_value=MAX_DAYS, required=False)
    profile = serializers.IntegerField(min_value=1, required=False)


class ApplySerializer(serializers.Serializer):
    profile_id = serializers.IntegerField(min_value=1)
    days = serializers.IntegerField(min_value=1, max_value=MAX_DAYS, required=False)


class RevertSerializer(serializers.Serializer):
    tuning_id = serializers.IntegerField(min_value=1)


class TuningSerializer(serializers.ModelSerializer):
    applied_by = serializers.StringRelatedField()
    reverted_by = serializers.StringRelatedField()

    class Meta:
        model = ProfileTuning
        fields = [
            "id", "profile", "status", "previous_weights", "previous_threshold", "weights", "threshold",
            "evidence", "applied_by", "applied_at", "reverted_by", "reverted_at",
        ]  # fmt: skip


def _window(request, default: int = selectors.DEFAULT_DAYS) -> dict:
    serializer = WindowSerializer(data=request.query_params)
    serializer.is_valid(raise_exception=True)
    return {"days": serializer.validated_data.get("days", default), "profile": serializer.validated_data.get("profile")}


class FunnelView(APIView):
    @extend_schema(parameters=[DAYS], responses=OpenApiTypes.OBJECT)
    def get(self, request):
        days = _window(request)["days"]
        return Response({"days": days, "stages": selectors.funnel(days=days)})


class RatesView(APIView):
    @extend_schema(parameters=[DAYS], responses=OpenApiTypes.OBJECT)
    def get(self, request):
        days = _window(request)["days"]
        cube, _counts, computed_at = selectors.cube_for(days=days)
        return Response(
            {
                "days": days,
                "computed_at": computed_at,
                "totals": selectors._sum(cube),
                "spend": selectors.spend(cube=cube),
                "dimensions": selectors.rates(cube=cube),
            }
        )


class CalibrationView(APIView):
    @extend_schema(
        parameters=[DAYS, OpenApiParameter("profile", int, description="One search profile's id.")],
        responses=OpenApiTypes.OBJECT,
    )
    def get(self, request):
        window = _window(request, default=settings.ANALYTICS_CALIBRATION_DAYS)
        # The stored report (computed by the analytics_refresh task), as the page shows it; queued when stale.
        report = background.calibration_stored(window["days"], profile_id=window["profile"])
        report["history"] = TuningSerializer(
            ProfileTuning.objects.select_related("applied_by", "reverted_by")[:50], many=True
        ).data
        return Response(report)


class CalibrationApplyView(APIView):
    @extend_schema(request=ApplySerializer, responses=TuningSerializer)
    def post(self, request):
        serializer = ApplySerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        tuning = services.calibration_apply(
            profile_id=serializer.validated_data["profile_id"],
            days=serializer.validated_data.get("days"),
            actor=Actor.from_request(request),
        )
        return Response(TuningSerializer(tuning).data, status=status.HTTP_201_CREATED)


class CalibrationRevertView(APIView):
    @extend_schema(request=RevertSerializer, responses=TuningSerializer)
    def post(self, request):
        serializer = RevertSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        tuning = services.calibration_revert(
            tuning_id=serializer.validated_data["tuning_id"],
            actor=Actor.from_request(request),
        )
        return Response(TuningSerializer(tuning).data)


class _Echo:
    def write(self, value):
        return value


def csv_response(days: int) -> StreamingHttpResponse:
    """Every application submitted in the window, one CSV row each, streamed."""
    writer = csv.writer(_Echo())

    def rows():
        yield writer.writerow(selectors.EXPORT_COLUMNS)
        for row in selectors.export_rows(days=days):
            yield writer.writerow(["" if value is None else value for value in row])

    response = StreamingHttpResponse(rows(), content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="applications-last-{days}-days.csv"'
    return response


class ExportView(APIView):
    @extend_schema(parameters=[DAYS], responses={(200, "text/csv"): OpenApiTypes.STR})
    def get(self, request):
        return csv_response(_window(request)["days"])
