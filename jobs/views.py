"""DRF views for jobs, search profiles, browser sessions and the Upwork API connection."""

from __future__ import annotations

from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import mixins, serializers, status, viewsets
from rest_framework.decorators import action
from rest_framework.response import Response
from rest_framework.views import APIView

from core.actor import Actor
from core.auditing import AuditedModelViewSetMixin
from core.errors import NotFound
from core.permissions import IsOperator
from jobs import selectors, services
from jobs.filters import JobFilter
from jobs.models import BrowserSession, SearchProfile
from jobs.serializers import (
    BrowserSessionImportSerializer,
    BrowserSessionSerializer,
    JobSerializer,
    SearchProfileSerializer,
    UpworkConnectionSerializer,
)
from queue_app.serializers import TaskSerializer
from queue_app.services import task_enqueue


class JobViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet):
    """Jobs: list and read with filters, search and ordering; shortlist and reject actions."""

    queryset = selectors.job_list()
    serializer_class = JobSerializer
    filterset_class = JobFilter
    search_fields = ["title", "description", "=upwork_id", "client_country"]
    ordering_fields = ["score", "posted_at", "discovered_at", "budget", "hourly_max", "client_total_spent"]
    ordering = ["-score", "-posted_at"]

    @extend_schema(request=None, responses=JobSerializer)
    @action(detail=True, methods=["post"])
    def shortlist(self, request, pk=None):
        return Response(JobSerializer(services.job_shortlist(job_id=self._id(pk))).data)

    @extend_schema(request=None, responses=JobSerializer)
    @action(detail=True, methods=["post"])
    def reject(self, request, pk=None):
        return Response(JobSerializer(services.job_reject(job_id=self._id(pk))).data)

    @extend_schema(request=None, responses=JobSerializer)
    @action(detail=True, methods=["post"])
    def archive(self, request, pk=None):
        return Response(JobSerializer(services.job_archive(job_id=self._id(pk))).data)

    def _id(self, pk) -> int:
        return self.get_object().id  # 404 for unknown ids


class SearchProfileViewSet(AuditedModelViewSetMixin, viewsets.ModelViewSet):
    """Search profiles: CRUD, plus discover (enqueue job_discovery) and rescore (enqueue job_filtering)."""

    queryset = SearchProfile.objects.all()
    serializer_class = SearchProfileSerializer
    filterset_fields = ["enabled", "source"]
    search_fields = ["name"]
    ordering_fields = ["name", "last_run_at", "created_at"]

    @extend_schema(request=None, responses={202: TaskSerializer})
    @action(detail=True, methods=["post"])
    def discover(self, request, pk=None):
        profile = self.get_object()
        task = task_enqueue(
            task_type="job_discovery", payload={"profile_id": profile.id}, actor=Actor.from_request(request)
        )
        return Response(TaskSerializer(task).data, status=status.HTTP_202_ACCEPTED)

    @extend_schema(request=None, responses={202: TaskSerializer})
    @action(detail=True, methods=["post"])
    def rescore(self, request, pk=None):
        profile = self.get_object()
        task = task_enqueue(
            task_type="job_filtering", payload={"profile_id": profile.id}, actor=Actor.from_request(request)
        )
        return Response(TaskSerializer(task).data, status=status.HTTP_202_ACCEPTED)


class BrowserSessionViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet):
    """Imported browser sessions (never their cookies): import, reactivate, revoke."""

    queryset = BrowserSession.objects.all()
    serializer_class = BrowserSessionSerializer
    filterset_fields = ["status"]

    @extend_schema(request=BrowserSessionImportSerializer, responses={201: BrowserSessionSerializer})
    def create(self, request):
        serializer = BrowserSessionImportSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        session = services.browser_session_import(**serializer.validated_data, actor=Actor.from_request(request))
        return Response(BrowserSessionSerializer(session).data, status=status.HTTP_201_CREATED)

    @extend_schema(request=None, responses=BrowserSessionSerializer)
    @action(detail=True, methods=["post"])
    def reactivate(self, request, pk=None):
        session = services.browser_session_reactivate(
            session_id=self.get_object().id, actor=Actor.from_request(request)
        )
        return Response(BrowserSessionSerializer(session).data)

    @extend_schema(request=None, responses=BrowserSessionSerializer)
    @action(detail=True, methods=["post"])
    def revoke(self, request, pk=None):
        session = self.get_object()
        services.browser_session_revoke(session_id=session.id, actor=Actor.from_request(request))
        session.refresh_from_db()
        return Response(BrowserSessionSerializer(session).data)


class UpworkConnectResponse(serializers.Serializer):
    authorize_url = serializers.URLField()
    connection = UpworkConnectionSerializer(allow_null=True)


class UpworkConnectView(APIView):
    """GET: the URL where you approve API access on Upwork (step 1 of the authorization-code flow); operators only.

    The pending authorization (nonce, PKCE verifier) is kept in this session: only this session can finish it.
    DELETE: forget the stored tokens (disconnect).
    """

    permission_classes = [IsOperator]

    @extend_schema(responses=UpworkConnectResponse)
    def get(self, request):
        token = selectors.oauth_token_active()
        return Response(
            {
                "authorize_url": services.oauth_authorization_start(
                    store=request.session, actor=Actor.from_request(request)
                ),
                "connection": UpworkConnectionSerializer(token).data if token else None,
            }
        )

    @extend_schema(request=None, responses={204: None})
    def delete(self, request):
        if not services.oauth_disconnect(actor=Actor.from_request(request)):
            raise NotFound("The Upwork API is not connected.")
        return Response(status=status.HTTP_204_NO_CONTENT)


class UpworkCallbackView(APIView):
    """GET ?code=&state=: Upwork sends the browser here after approval; the code is traded for tokens.

    Operators only, and only in the session that started the connection, once.
    """

    permission_classes = [IsOperator]

    @extend_schema(
        parameters=[OpenApiParameter("code", str, required=True), OpenApiParameter("state", str, required=True)],
        responses=UpworkConnectionSerializer,
    )
    def get(self, request):
        token = services.oauth_connect(
            code=request.query_params.get("code", ""),
            state=request.query_params.get("state", ""),
            store=request.session,
            actor=Actor.from_request(request),
        )
        return Response(UpworkConnectionSerializer(token).data)
