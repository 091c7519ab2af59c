"""DRF views for proposals (read, edit, review), freelancer profiles and attachments."""

from __future__ import annotations

from django.db.models import Prefetch
from drf_spectacular.utils import extend_schema
from rest_framework import mixins, parsers, status, viewsets
from rest_framework.decorators import action
from rest_framework.response import Response

from core.actor import Actor
from core.auditing import AuditedModelViewSetMixin
from core.parsers import ApiJSONParser
from proposals import selectors, services
from proposals.filters import ProposalFilter
from proposals.models import Attachment, FreelancerProfile, ProposalVersion
from proposals.serializers import (
    AttachmentSerializer,
    FreelancerProfileSerializer,
    ProposalAnswersSerializer,
    ProposalAttachmentChoiceSerializer,
    ProposalBatchSerializer,
    ProposalEditSerializer,
    ProposalGenerateSerializer,
    ProposalListSerializer,
    ProposalRegenerateSerializer,
    ProposalReopenSerializer,
    ProposalReviewSerializer,
    ProposalSerializer,
    ProposalVersionSerializer,
)
from queue_app.serializers import TaskSerializer
from queue_app.services import task_enqueue


class ProposalViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet):
    """Proposals with their job: list and read; edit (a new version), regenerate, submit, approve, reject."""

    filterset_class = ProposalFilter
    search_fields = ["job__title", "=job__upwork_id"]
    ordering_fields = ["updated_at", "created_at", "job__score", "status"]
    ordering = ["-updated_at"]

    def get_queryset(self):
        queryset = selectors.proposal_list()
        if self.action != "list":
            queryset = queryset.prefetch_related(
                Prefetch("versions", queryset=ProposalVersion.objects.order_by("-number"))
            )
        return queryset

    def get_serializer_class(self):
        return ProposalListSerializer if self.action == "list" else ProposalSerializer

    def _detail(self, proposal_id: int) -> Response:
        return Response(ProposalSerializer(self.get_queryset().get(id=proposal_id)).data)

    def _input(self, serializer_class, request):
        serializer = serializer_class(data=request.data)
        serializer.is_valid(raise_exception=True)
        return serializer.validated_data

    @extend_schema(request=ProposalEditSerializer, responses=ProposalVersionSerializer)
    @action(detail=True, methods=["post"])
    def edit(self, request, pk=None):
        data = self._input(ProposalEditSerializer, request)
        version = services.proposal_edit(
            proposal_id=self.get_object().id, text=data["text"], actor=Actor.from_request(request)
        )
        return Response(ProposalVersionSerializer(version).data, status=status.HTTP_201_CREATED)

    @extend_schema(request=ProposalRegenerateSerializer, responses={202: TaskSerializer})
    @action(detail=True, methods=["post"])
    def regenerate(self, request, pk=None):
        data = self._input(ProposalRegenerateSerializer, request)
        proposal = self.get_object()
        task = services.proposal_regenerate_request(
            proposal_id=proposal.id,
            feedback=data["feedback"],
            screening_questions=data["screening_questions"],
            generator=data["generator"],
            actor=Actor.from_request(request),
        )
        return Response(TaskSerializer(task).data, status=status.HTTP_202_ACCEPTED)

    @extend_schema(request=ProposalReopenSerializer, responses=ProposalSerializer)
    @action(detail=True, methods=["post"])
    def reopen(self, request, pk=None):
        """An approved proposal back to review as a new version, while no application has been sent."""
        data = self._input(ProposalReopenSerializer, request)
        proposal = services.proposal_reopen(
            proposal_id=self.get_object().id,
            reason=data["reason"],
            actor=Actor.from_request(request),
        )
        return self._detail(proposal.id)

    @extend_schema(request=ProposalAnswersSerializer, responses={201: ProposalVersionSerializer})
    @action(detail=True, methods=["post"])
    def answers(self, request, pk=None):
        """Set the answers to some screening questions: a new version in review."""
        data = self._input(ProposalAnswersSerializer, request)
        version = services.proposal_answers_set(
            proposal_id=self.get_object().id,
            answers=data["answers"],
            actor=Actor.from_request(request),
        )
        return Response(ProposalVersionSerializer(version).data, status=status.HTTP_201_CREATED)

    @extend_schema(request=None, responses=ProposalSerializer)
    @action(detail=True, methods=["post"])
    def submit(self, request, pk=None):
        proposal = services.proposal_submit(proposal_id=self.get_object().id, actor=Actor.from_request(request))
        return self._detail(proposal.id)

    @extend_schema(request=ProposalReviewSerializer, responses=ProposalSerializer)
    @action(detail=True, methods=["post"])
    def approve(self, request, pk=None):
        data = self._input(ProposalReviewSerializer, request)
        proposal = services.proposal_approve(
            proposal_id=self.get_object().id,
            feedback=data["feedback"],
            actor=Actor.from_request(request),
        )
        return self._detail(proposal.id)

    @extend_schema(request=ProposalReviewSerializer, responses=ProposalSerializer)
    @action(detail=True, methods=["post"])
    def reject(self, request, pk=None):
        data = self._input(ProposalReviewSerializer, request)
        proposal = services.proposal_reject(
            proposal_id=self.get_object().id,
            feedback=data["feedback"],
            actor=Actor.from_request(request),
        )
        return self._detail(proposal.id)

    @extend_schema(request=ProposalAttachmentChoiceSerializer, responses=ProposalSerializer)
    @action(detail=True, methods=["post"])
    def attachments(self, request, pk=None):
        data = self._input(ProposalAttachmentChoiceSerializer, request)
        proposal = services.proposal_attachments_set(
            proposal_id=self.get_object().id,
            attachment_ids=data["attachment_ids"],
            actor=Actor.from_request(request),
        )
        return self._detail(proposal.id)

    @extend_schema(request=ProposalGenerateSerializer, responses={202: TaskSerializer})
    @action(detail=False, methods=["post"])
    def generate(self, request):
        data = self._input(ProposalGenerateSerializer, request)
        task = task_enqueue(task_type="generate_proposal", payload=data, actor=Actor.from_request(request))
        return Response(TaskSerializer(task).data, status=status.HTTP_202_ACCEPTED)

    @extend_schema(request=ProposalBatchSerializer, responses={202: TaskSerializer})
    @action(detail=False, methods=["post"])
    def batch(self, request):
        data = self._input(ProposalBatchSerializer, request)
        task = task_enqueue(task_type="batch_generate_proposals", payload=data, actor=Actor.from_request(request))
        return Response(TaskSerializer(task).data, status=status.HTTP_202_ACCEPTED)


class FreelancerProfileViewSet(AuditedModelViewSetMixin, viewsets.ModelViewSet):
    """Freelancer profiles: what the drafter may claim and how it should sound."""

    queryset = FreelancerProfile.objects.all()
    serializer_class = FreelancerProfileSerializer


class AttachmentFilesViewSet(viewsets.ModelViewSet):
    """Writes of attachments through their services, so a replaced or deleted file leaves the disk too."""

    def perform_update(self, serializer):
        old_name = serializer.instance.file.name
        attachment = serializer.save()
        services.attachment_file_replaced(attachment=attachment, old_name=old_name)

    def perform_destroy(self, instance):
        services.attachment_delete(attachments=[instance])


class AttachmentViewSet(AuditedModelViewSetMixin, AttachmentFilesViewSet):
    """Portfolio attachments (multipart upload of `file`); every write audited."""

    queryset = Attachment.objects.all()
    serializer_class = AttachmentSerializer
    parser_classes = [parsers.MultiPartParser, parsers.FormParser, ApiJSONParser]
    filterset_fields = ["active"]
    search_fields = ["title", "description"]
