"""DRF views for applications: read with screenshots; create, approve, schedule, dry-run, cancel, reopen, batch."""

from __future__ import annotations

from django.http import FileResponse, Http404
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema
from rest_framework import mixins, status, viewsets
from rest_framework.decorators import action
from rest_framework.response import Response

from applications import selectors, services
from applications.filters import ApplicationFilter
from applications.models import ApplicationScreenshot
from applications.serializers import (
    ApplicationListSerializer,
    ApplicationSerializer,
    ApproveSerializer,
    BatchSerializer,
    CreateSerializer,
    ScheduleSerializer,
)
from core.actor import Actor
from queue_app.serializers import TaskSerializer


class ApplicationViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet):
    """Applications: list and read (with screenshots); every state change is an action that calls a service."""

    filterset_class = ApplicationFilter
    search_fields = ["job__title", "=job__upwork_id", "=confirmation_reference"]
    ordering_fields = ["created_at", "updated_at", "approved_at", "submitted_at", "scheduled_for", "status"]
    ordering = ["-created_at"]

    def get_queryset(self):
        return selectors.application_list()

    def get_serializer_class(self):
        return ApplicationListSerializer if self.action == "list" else ApplicationSerializer

    def _input(self, serializer_class, request) -> dict:
        serializer = serializer_class(data=request.data)
        serializer.is_valid(raise_exception=True)
        return serializer.validated_data

    def _detail(self, application_id: int, *, code: int = status.HTTP_200_OK) -> Response:
        return Response(ApplicationSerializer(self.get_queryset().get(id=application_id)).data, status=code)

    @extend_schema(request=CreateSerializer, responses=ApplicationSerializer)
    def create(self, request):
        data = self._input(CreateSerializer, request)
        application = services.application_create(
            proposal_id=data["proposal_id"],
            bid_amount=data["bid_amount"],
            boost_connects=data["boost_connects"],
            actor=Actor.from_request(request),
        )
        return self._detail(application.id, code=status.HTTP_201_CREATED)

    @extend_schema(request=ApproveSerializer, responses=ApplicationSerializer)
    @action(detail=True, methods=["post"])
    def approve(self, request, pk=None):
        data = self._input(ApproveSerializer, request)
        answers = [dict(item) for item in data["screening_answers"]] if data["screening_answers"] is not None else None
        services.application_approve(
            application_id=self.get_object().id,
            bid_amount=data["bid_amount"],
            screening_answers=answers,
            actor=Actor.from_request(request),
        )
        return self._detail(pk)

    @extend_schema(request=ScheduleSerializer, responses=ApplicationSerializer)
    @action(detail=True, methods=["post"])
    def schedule(self, request, pk=None):
        data = self._input(ScheduleSerializer, request)
        services.application_schedule(
            application_id=self.get_object().id, run_at=data["run_at"], actor=Actor.from_request(request)
        )
        return self._detail(pk)

    @extend_schema(request=None, responses=ApplicationSerializer)
    @action(detail=True, methods=["post"])
    def cancel(self, request, pk=None):
        services.application_cancel(application_id=self.get_object().id, actor=Actor.from_request(request))
        return self._detail(pk)

    @extend_schema(request=None, responses=ApplicationSerializer)
    @action(detail=True, methods=["post"])
    def reopen(self, request, pk=None):
        services.application_reopen(application_id=self.get_object().id, actor=Actor.from_request(request))
        return self._detail(pk)

    @extend_schema(request=None, responses=TaskSerializer)
    @action(detail=True, methods=["post"], url_path="dry-run")
    def dry_run(self, request, pk=None):
        task = services.application_dry_run_request(
            application_id=self.get_object().id, actor=Actor.from_request(request)
        )
        return Response(TaskSerializer(task).data, status=status.HTTP_202_ACCEPTED)

    @extend_schema(request=BatchSerializer, responses=TaskSerializer)
    @action(detail=False, methods=["post"])
    def batch(self, request):
        data = self._input(BatchSerializer, request)
        task = services.applications_batch_request(
            application_ids=data["application_ids"], limit=data["limit"], actor=Actor.from_request(request)
        )
        return Response(TaskSerializer(task).data, status=status.HTTP_202_ACCEPTED)

    @extend_schema(responses=OpenApiTypes.OBJECT)
    @action(detail=False, methods=["get"])
    def limits(self, request):
        return Response(selectors.limits_summary())

    @extend_schema(responses={(200, "image/png"): OpenApiTypes.BINARY})
    @action(detail=True, methods=["get"], url_path=r"screenshots/(?P<screenshot_id>\d+)", url_name="screenshot")
    def screenshot(self, request, pk=None, screenshot_id=None):
        shot = ApplicationScreenshot.objects.filter(id=screenshot_id, application_id=self.get_object().id).first()
        if shot is None or not shot.image:
            raise Http404("No such screenshot.")
        return FileResponse(shot.image.open("rb"), content_type="image/png")
