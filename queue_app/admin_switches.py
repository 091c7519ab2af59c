"""Admin for runtime switches: an operator flips them here, no restart; every change goes through switch_set."""

from __future__ import annotations

from django import forms
from django.contrib import admin, messages

from core.actor import Actor
from core.errors import ApplicationError
from queue_app import switches
from queue_app.models import Switch


class SwitchForm(forms.ModelForm):
    class Meta:
        model = Switch
        fields = ["value"]

    def clean_value(self):
        raw = (self.cleaned_data.get("value") or "").strip()
        if not raw:
            return ""
        try:
            spec = switches.switch_spec(self.instance.key)
            return spec.show(spec.parse(raw))
        except ApplicationError as error:
            raise forms.ValidationError(error.message) from None


@admin.register(Switch)
class SwitchAdmin(admin.ModelAdmin):
    form = SwitchForm
    list_display = ["key", "effective", "override", "default", "description", "updated_by", "updated_at"]
    fields = ["key", "description", "default", "value", "effective", "updated_by", "updated_at"]
    readonly_fields = ["key", "description", "default", "effective", "updated_by", "updated_at"]
    list_select_related = ["updated_by"]

    def has_add_permission(self, request):
        return False  # switches are declared by the apps; every one has a row

    def has_delete_permission(self, request, obj=None):
        return False  # empty the value to go back to the environment's default

    def changelist_view(self, request, extra_context=None):
        switches.switches_ensure()  # a switch declared after the last migrate gets its row
        return super().changelist_view(request, extra_context)

    def _spec(self, switch: Switch):
        try:
            return switches.switch_spec(switch.key)
        except ApplicationError:
            return None  # a row left by a switch no app declares any more

    @admin.display(description="Now")
    def effective(self, switch: Switch) -> str:
        spec = self._spec(switch)
        if spec is None:
            return "not declared"
        return spec.show(spec.parse(switch.value) if switch.value else spec.default_value())

    @admin.display(description="Operator's value")
    def override(self, switch: Switch) -> str:
        return switch.value or "(environment default)"

    @admin.display(description="Default (environment)")
    def default(self, switch: Switch) -> str:
        spec = self._spec(switch)
        return f"{spec.show(spec.default_value())} ({spec.setting})" if spec else "-"

    @admin.display(description="What it does")
    def description(self, switch: Switch) -> str:
        spec = self._spec(switch)
        return spec.description if spec else "No app declares this switch any more."

    def save_model(self, request, obj, form, change):
        """Through the audited service: workers read the new value at their next task."""
        try:
            switches.switch_set(
                key=obj.key,
                value=form.cleaned_data["value"],
                actor=Actor.admin(request),
            )
        except ApplicationError as error:
            self.message_user(request, error.message, messages.ERROR)
