"""API shapes for channels (target and secret write-only, never returned) and the delivery log."""

from __future__ import annotations

from rest_framework import serializers

from notifications.models import Channel, ChannelKind, Delivery, Event
from notifications.services.channels import mask_target


class ChannelSerializer(serializers.ModelSerializer):
    target = serializers.CharField(
        write_only=True,
        required=False,
        max_length=2000,
        help_text="Slack/webhook URL, Telegram chat id or email address(es). Write-only; omit on update to keep it.",
    )
    secret = serializers.CharField(
        write_only=True,
        required=False,
        allow_blank=True,
        max_length=500,
        help_text="Telegram bot token or webhook signing secret. Write-only; omit or blank on update to keep it.",
    )
    kind = serializers.ChoiceField(choices=ChannelKind.choices)
    events = serializers.ListField(
        child=serializers.ChoiceField(choices=[value for value in Event.values if value != Event.TEST]),
        max_length=20,
        required=False,
    )
    min_score = serializers.IntegerField(min_value=0, max_value=100, required=False)
    target_display = serializers.SerializerMethodField(help_text="The target as may be shown: URLs cut to the host.")
    has_secret = serializers.SerializerMethodField()

    class Meta:
        model = Channel
        fields = [
            "id",
            "name",
            "kind",
            "target",
            "secret",
            "target_display",
            "has_secret",
            "enabled",
            "events",
            "min_score",
            "timezone",
            "quiet_start",
            "quiet_end",
            "created_at",
            "updated_at",
        ]
        read_only_fields = ["created_at", "updated_at"]

    def get_target_display(self, obj: Channel) -> str:
        return mask_target(obj)

    def get_has_secret(self, obj: Channel) -> bool:
        return bool(obj.secret)

    def validate(self, attrs):
        if self.instance is None and not attrs.get("target"):
            raise serializers.ValidationError({"target": ["This field is required."]})
        return attrs


class DeliverySerializer(serializers.ModelSerializer):
    channel_name = serializers.CharField(source="channel.name", read_only=True)

    class Meta:
        model = Delivery
        fields = [
            "id",
            "channel",
            "channel_name",
            "event",
            "key",
            "subject",
            "payload",
            "score",
            "urgent",
            "status",
            "attempts",
            "hold_until",
            "next_attempt_at",
            "last_status_code",
            "last_error",
            "created_at",
            "sent_at",
        ]
        read_only_fields = fields
