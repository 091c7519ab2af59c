"""DRF views: notification channels (operators write, through services) and the read-only delivery log."""

from __future__ import annotations

from drf_spectacular.utils import extend_schema
from rest_framework import mixins, status, viewsets
from rest_framework.decorators import action
from rest_framework.response import Response

from notifications import selectors, services
from notifications.models import Channel
from notifications.serializers import ChannelSerializer, DeliverySerializer
from queue_app.models import TaskSource
from upwork_automation.api import client_ip


def _who(request) -> dict:
    return {"user": request.user, "source": TaskSource.API, "remote_addr": client_ip(request)}


class ChannelViewSet(viewsets.ModelViewSet):
    """Channels: viewers read (targets masked, secrets never), operators add, change, delete and send a test."""

    queryset = Channel.objects.all()
    serializer_class = ChannelSerializer
    filterset_fields = ["kind", "enabled"]
    search_fields = ["name"]
    ordering_fields = ["name", "created_at"]
    http_method_names = ["get", "post", "put", "patch", "delete", "head", "options"]

    def perform_create(self, serializer):
        values = dict(serializer.validated_data)
        values["timezone_name"] = values.pop("timezone", "UTC")
        serializer.instance = services.channel_create(**values, **_who(self.request))

    def perform_update(self, serializer):
        serializer.instance = services.channel_update(
            channel_id=serializer.instance.pk, changes=dict(serializer.validated_data), **_who(self.request)
        )

    def perform_destroy(self, instance):
        services.channel_delete(channel_id=instance.pk, **_who(self.request))

    @extend_schema(request=None, responses={202: DeliverySerializer})
    @action(detail=True, methods=["post"])
    def test(self, request, pk=None):
        delivery = services.channel_send_test(channel_id=self.get_object().pk, **_who(request))
        return Response(DeliverySerializer(delivery).data, status=status.HTTP_202_ACCEPTED)


class DeliveryViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet):
    """The delivery log: what was sent to which channel, what failed and why (read-only)."""

    queryset = selectors.delivery_list()
    serializer_class = DeliverySerializer
    filterset_fields = ["status", "event", "channel"]
    search_fields = ["=key", "subject"]
    ordering_fields = ["created_at", "sent_at"]
