"""Admin for what core owns: the audit log (read-only), API tokens (prefixes only), users and roles (audited)."""

import json

from django import forms
from django.contrib import admin, messages
from django.contrib.auth.admin import GroupAdmin, UserAdmin
from django.contrib.auth.models import Group, User
from django.core.exceptions import ValidationError
from django.utils.html import format_html
from rest_framework.authtoken.models import TokenProxy

from core.actor import Actor
from core.admin_scale import CreatedWithinFilter
from core.auditing import AuditedModelAdminMixin, model_write_audit
from core.errors import ApplicationError
from core.models import ApiToken, AuditEntry
from core.permissions import token_create, token_revoke


def _pretty_json(value) -> str:
    return format_html("<pre style='white-space:pre-wrap'>{}</pre>", json.dumps(value, indent=2, default=str))


@admin.register(AuditEntry)
class AuditEntryAdmin(admin.ModelAdmin):
    """Read-only: audit rows are written by services and never edited or deleted here."""

    list_display = ["created_at", "actor_name", "source", "action", "object_type", "object_id", "remote_addr"]
    list_filter = [("actor", admin.RelatedOnlyFieldListFilter), "source", "action", "object_type", CreatedWithinFilter]
    search_fields = ["=object_id", "actor_name", "action"]
    date_hierarchy = "created_at"
    list_select_related = ["actor"]
    show_full_result_count = False
    readonly_fields = [
        "created_at",
        "actor",
        "actor_name",
        "source",
        "action",
        "object_type",
        "object_id",
        "before_pretty",
        "after_pretty",
        "remote_addr",
    ]
    exclude = ["before", "after"]

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False  # for superusers too: the log is append-only

    @admin.display(description="Before")
    def before_pretty(self, obj):
        return _pretty_json(obj.before)

    @admin.display(description="After")
    def after_pretty(self, obj):
        return _pretty_json(obj.after)


# --- API tokens: prefixes only; made and revoked through the audited services --------------------------------
admin.site.unregister(TokenProxy)  # DRF's token admin lists every full key; its table is emptied by a migration


class ApiTokenAddForm(forms.ModelForm):
    class Meta:
        model = ApiToken
        fields = ["user"]

    def clean_user(self):
        user = self.cleaned_data["user"]
        if ApiToken.objects.filter(user=user).exists():
            raise forms.ValidationError(f"{user.get_username()} already has a token; delete it first.")
        return user


@admin.register(ApiToken)
class ApiTokenAdmin(admin.ModelAdmin):
    """Lists prefixes, never keys or digests; a new key is shown once, in the message after adding."""

    list_display = ["prefix", "user", "created", "expiry", "last_used_at"]
    list_select_related = ["user"]
    search_fields = ["token_key", "user__username"]
    fields = ["prefix", "user", "created", "expiry", "last_used_at"]
    readonly_fields = fields
    form = ApiTokenAddForm

    @admin.display(description="Key prefix", ordering="token_key")
    def prefix(self, token: ApiToken) -> str:
        return f"{token.token_key}…"

    def get_fields(self, request, obj=None):
        return ["user"] if obj is None else self.fields

    def get_readonly_fields(self, request, obj=None):
        return [] if obj is None else self.readonly_fields

    def has_change_permission(self, request, obj=None) -> bool:
        return False

    def save_model(self, request, obj, form, change):
        try:
            token, key = token_create(user=obj.user, actor=Actor.admin(request))
        except ApplicationError as error:
            raise ValidationError(error.message) from None
        obj.digest, obj.token_key, obj.created, obj.expiry = token.digest, token.token_key, token.created, token.expiry
        obj._state.adding, obj._state.db = False, token._state.db
        self.message_user(
            request,
            f"The new key of {obj.user.get_username()}, shown only now (send it as 'Authorization: Token KEY'): {key}",
            messages.WARNING,
        )

    def delete_model(self, request, obj):
        token_revoke(user=obj.user, actor=Actor.admin(request))

    def delete_queryset(self, request, queryset):
        for token in queryset.select_related("user"):
            self.delete_model(request, token)


# --- Users and roles (groups): every change audited, passwords never copied ---------------------------------
admin.site.unregister(User)
admin.site.unregister(Group)


@admin.register(User)
class AuditedUserAdmin(AuditedModelAdminMixin, UserAdmin):
    def user_change_password(self, request, id, form_url=""):
        response = super().user_change_password(request, id, form_url)
        if request.method == "POST" and response.status_code == 302:  # the form was valid and saved
            user = User.objects.get(pk=id)
            model_write_audit(
                obj=user,
                verb="password_change",
                before=None,
                after={"username": user.get_username()},
                actor=Actor.admin(request),
            )
        return response


@admin.register(Group)
class AuditedGroupAdmin(AuditedModelAdminMixin, GroupAdmin):
    pass
