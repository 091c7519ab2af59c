"""Admin for notification channels (set up through services, secrets write-only) and the delivery log (read-only)."""

from __future__ import annotations

from django import forms
from django.contrib import admin, messages
from django.utils.html import format_html

from notifications import services
from notifications.models import Channel, Delivery, DeliveryStatus, Event
from notifications.services.channels import channel_check, mask_target
from queue_app.errors import ValidationFailed
from queue_app.models import TaskSource
from upwork_automation.api import client_ip


def _by(request) -> dict:
    """Who acts, as the services take it: the admin user, the admin source and the client's address."""
    return {"user": request.user, "source": TaskSource.ADMIN, "remote_addr": client_ip(request)}


class ChannelForm(forms.ModelForm):
    """Target and secret are write-only: never rendered back; left blank on edit, they keep their stored value."""

    target = forms.CharField(
        required=False,
        widget=forms.PasswordInput(render_value=False, attrs={"autocomplete": "off", "size": 80}),
        help_text=Channel._meta.get_field("target").help_text + " Leave blank to keep the stored one.",
    )
    secret = forms.CharField(
        required=False,
        widget=forms.PasswordInput(render_value=False, attrs={"autocomplete": "off"}),
        help_text=Channel._meta.get_field("secret").help_text + " Leave blank to keep the stored one.",
    )
    events = forms.MultipleChoiceField(
        choices=[(value, label) for value, label in Event.choices if value != Event.TEST],
        widget=forms.CheckboxSelectMultiple,
        required=False,
    )

    class Meta:
        model = Channel
        fields = ["name", "kind", "target", "secret", "enabled", "events", "min_score", "timezone"]
        fields += ["quiet_start", "quiet_end"]

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.initial["target"] = ""
        self.initial["secret"] = ""
        if self.instance.pk is None:
            self.fields["target"].required = True

    def clean(self):
        data = super().clean()
        values = {name: data.get(name) for name in self.Meta.fields if name in data}
        if self.instance.pk is not None:
            for name in ("target", "secret"):
                if not values.get(name):
                    values.pop(name, None)
        self.service_values = values
        candidate = Channel.objects.get(pk=self.instance.pk) if self.instance.pk else Channel()
        for name, value in values.items():
            setattr(candidate, name, value if value is not None or name.startswith("quiet") else "")
        if candidate.events is None:
            candidate.events = []
        try:
            channel_check(candidate)
        except ValidationFailed as error:
            for name, problems in error.field_errors.items():
                self.add_error(name if name in self.fields else None, problems)
        return data

    def _post_clean(self):
        pass  # the service validates and saves (services.channels); the model form does not write the row


@admin.register(Channel)
class ChannelAdmin(admin.ModelAdmin):
    form = ChannelForm
    list_display = ["name", "kind", "shown_target", "enabled", "event_list", "min_score", "quiet_hours", "updated_at"]
    list_filter = ["kind", "enabled"]
    search_fields = ["name"]
    actions = ["send_test"]

    @admin.display(description="target")
    def shown_target(self, obj: Channel) -> str:
        return mask_target(obj)

    @admin.display(description="events")
    def event_list(self, obj: Channel) -> str:
        return ", ".join(obj.events)

    @admin.display(description="quiet hours")
    def quiet_hours(self, obj: Channel) -> str:
        if obj.quiet_start is None:
            return "—"
        return f"{obj.quiet_start:%H:%M}-{obj.quiet_end:%H:%M} {obj.timezone}"

    def save_model(self, request, obj, form, change):
        values = dict(form.service_values)
        values["timezone_name" if not change else "timezone"] = values.pop("timezone", "UTC")
        if change:
            saved = services.channel_update(channel_id=obj.pk, changes=values, **_by(request))
        else:
            saved = services.channel_create(**values, **_by(request))
        obj.pk = saved.pk

    def save_related(self, request, form, formsets, change):
        pass  # no related rows

    def delete_model(self, request, obj):
        services.channel_delete(channel_id=obj.pk, **_by(request))

    def delete_queryset(self, request, queryset):
        for channel in queryset:
            services.channel_delete(channel_id=channel.pk, **_by(request))

    @admin.action(description="Send a test message", permissions=["change"])
    def send_test(self, request, queryset):
        for channel in queryset:
            services.channel_send_test(channel_id=channel.pk, **_by(request))
        self.message_user(
            request, f"Queued a test message to {queryset.count()} channel(s); see Deliveries.", messages.SUCCESS
        )


@admin.register(Delivery)
class DeliveryAdmin(admin.ModelAdmin):
    """The delivery log: what was sent where, what failed and why. Read-only."""

    list_display = ["created_at", "channel", "event", "subject", "shown_status", "attempts", "last_status_code"]
    list_display += ["sent_at"]
    list_filter = ["status", "event", "channel"]
    search_fields = ["=key", "subject"]
    list_select_related = ["channel"]
    readonly_fields = [
        "channel",
        "event",
        "key",
        "subject",
        "status",
        "attempts",
        "urgent",
        "score",
        "hold_until",
        "next_attempt_at",
        "last_status_code",
        "last_error",
        "task_id",
        "created_at",
        "sent_at",
        "payload",
    ]
    fields = readonly_fields

    @admin.display(description="status", ordering="status")
    def shown_status(self, obj: Delivery):
        colours = {DeliveryStatus.SENT: "green", DeliveryStatus.FAILED: "#b00"}
        label = obj.get_status_display()
        if obj.status == DeliveryStatus.FAILED and obj.last_error:
            label = f"{label}: {obj.last_error[:80]}"
        return format_html('<span style="color:{}">{}</span>', colours.get(obj.status, "inherit"), label)

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False
