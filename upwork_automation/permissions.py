"""API access: roles are Django groups ("viewer" reads, "operator" also writes); staff may do both. Throttles."""

from __future__ import annotations

import logging
from datetime import timedelta
from functools import cache

from django.apps import apps
from django.conf import settings
from django.core.cache.backends.redis import RedisCache
from django.db import transaction
from django.utils import timezone
from drf_spectacular.extensions import OpenApiAuthenticationExtension
from knox.auth import TokenAuthentication as KnoxTokenAuthentication
from redis.exceptions import RedisError
from rest_framework import permissions
from rest_framework.throttling import UserRateThrottle

from queue_app.errors import ValidationFailed

logger = logging.getLogger(__name__)

VIEWER = "viewer"
OPERATOR = "operator"
ROLES = (VIEWER, OPERATOR)

# Apps whose models the roles cover (those installed are used; later apps join when they land).
ROLE_APPS = ("queue_app", "jobs", "proposals", "applications", "notifications")
# Model permissions an operator has beyond viewing: what the admin's actions and forms need.
OPERATOR_EXTRA_PERMISSIONS = {
    "queue_app": {
        "change_task",
        "add_scheduledtask",
        "change_scheduledtask",
        "delete_scheduledtask",
        "change_switch",  # runtime switches (the kill switch, dry run, caps) are an operator's to flip
    },
    # Job status actions, running and editing searches, browser sessions, disconnecting the Upwork API.
    "jobs": {
        "change_job",
        "add_searchprofile",
        "change_searchprofile",
        "change_browsersession",
        "delete_upworkoauthtoken",
    },
    # Reviewing and approving proposals; approving, scheduling and cancelling applications.
    "proposals": {"change_proposal", "approve_proposal"},
    "applications": {"change_application", "approve_application"},
    # Notification channels are an operator's to set up; the delivery log is read-only for everyone.
    "notifications": {"add_channel", "change_channel", "delete_channel"},
}
# Never anyone's but a superuser's: the audit log is read-only, tokens are managed by admins.
OPERATOR_EXCLUDED_MODELS = {"auditentry", "workerprocess", "metricsnapshot", "apitoken"}


def user_roles(user) -> set[str]:
    """The API roles of a user (cached on the user object for the request)."""
    if user is None or not user.is_authenticated:
        return set()
    cached = getattr(user, "_api_roles", None)
    if cached is None:
        cached = set(user.groups.filter(name__in=ROLES).values_list("name", flat=True))
        user._api_roles = cached
    return cached


def can_read(user) -> bool:
    return bool(user and user.is_authenticated and (user.is_staff or user_roles(user)))


def can_write(user) -> bool:
    return bool(user and user.is_authenticated and (user.is_staff or OPERATOR in user_roles(user)))


class HasApiRole(permissions.BasePermission):
    """Reads (GET, HEAD, OPTIONS): viewer, operator or staff. Writes: operator or staff."""

    message = "Your account has no API role; ask an admin for the viewer or operator role."

    def has_permission(self, request, view) -> bool:
        user = request.user
        if request.method in permissions.SAFE_METHODS:
            return can_read(user)
        if can_read(user) and not can_write(user):
            self.message = "The viewer role is read-only; this needs the operator role."
        return can_write(user)


class IsOperator(permissions.BasePermission):
    """Operator or staff for every method, reads included (e.g. starting the Upwork OAuth connection)."""

    message = "This needs the operator role."

    def has_permission(self, request, view) -> bool:
        return can_write(request.user)


class IsOperatorOrStaffReadOnly(permissions.BasePermission):
    """Read-only resources for operators and staff only (e.g. the audit log)."""

    message = "Only operators and staff can read this."

    def has_permission(self, request, view) -> bool:
        return request.method in permissions.SAFE_METHODS and can_write(request.user)


# --- Roles as groups with model permissions ------------------------------------


def _role_permissions() -> dict[str, list]:
    from django.contrib.auth.models import Permission

    labels = [label for label in ROLE_APPS if apps.is_installed(label)]
    view, operate = [], []
    for perm in Permission.objects.filter(content_type__app_label__in=labels).select_related("content_type"):
        app_label, model = perm.content_type.app_label, perm.content_type.model
        if perm.codename.startswith("view_"):
            view.append(perm)
            operate.append(perm)
        elif perm.codename in OPERATOR_EXTRA_PERMISSIONS.get(app_label, set()) and model not in (
            OPERATOR_EXCLUDED_MODELS
        ):
            operate.append(perm)
    return {VIEWER: view, OPERATOR: operate}


def roles_ensure(*, refresh: bool = True, source: str = "system") -> dict:
    """Create the viewer and operator groups if missing and set their model permissions (idempotent).

    refresh=False returns existing groups untouched (the quick path for granting a role).
    """
    from django.contrib.auth.management import create_permissions
    from django.contrib.auth.models import Group

    if not refresh:
        existing = {group.name: group for group in Group.objects.filter(name__in=ROLES)}
        if len(existing) == len(ROLES):
            return existing

    # Permissions are created after migrate; create them now too, for a fresh or flushed database.
    for app_config in apps.get_app_configs():
        create_permissions(app_config, verbosity=0)
    from queue_app.audit import audit_record

    groups = {}
    with transaction.atomic():
        for role, perms in _role_permissions().items():
            group, _ = Group.objects.get_or_create(name=role)
            before = set(group.permissions.values_list("codename", flat=True))
            group.permissions.set(perms)
            after = {perm.codename for perm in perms}
            if before != after:
                audit_record(
                    action="role.permissions_set",
                    object_type="group",
                    object_id=group.pk,
                    source=source,
                    before={"role": role, "removed": sorted(before - after)},
                    after={"role": role, "added": sorted(after - before)},
                )
            groups[role] = group
    return groups


def role_grant(*, user, role: str, actor=None, source: str = "system", remote_addr: str | None = None) -> None:
    """Give a user a role (creating the groups when needed); the other role is taken away. Audited."""
    from queue_app.audit import audit_record

    if role not in ROLES:
        raise ValueError(f"Unknown role '{role}'; use one of: {', '.join(ROLES)}.")
    groups = roles_ensure(refresh=False)
    with transaction.atomic():
        before = sorted(user.groups.filter(name__in=ROLES).values_list("name", flat=True))
        user.groups.remove(*[group for name, group in groups.items() if name != role])
        user.groups.add(groups[role])
        audit_record(
            action="user.role_grant",
            object_type="user",
            object_id=user.pk,
            source=source,
            user=actor,
            before={"username": user.get_username(), "roles": before},
            after={"username": user.get_username(), "roles": [role]},
            remote_addr=remote_addr,
        )
    if hasattr(user, "_api_roles"):
        del user._api_roles


# --- Throttling -------------------------------------------------------------------


@cache
def _throttle_cache(redis_url: str) -> RedisCache:
    return RedisCache(redis_url, {"KEY_PREFIX": "throttle"})


class UserRoleRateThrottle(UserRateThrottle):
    """Per user: reads at API_THROTTLE_READ, writes at API_THROTTLE_USER; counted in Redis (shared by processes).

    Rates are read from settings when a request comes, so tests and operators can change them.
    """

    def __init__(self):  # the rate depends on the request's method: chosen in allow_request
        pass

    @property
    def cache(self):
        return _throttle_cache(settings.REDIS_URL)

    def allow_request(self, request, view):
        self.scope = "read" if request.method in permissions.SAFE_METHODS else "user"
        self.rate = settings.API_THROTTLE_READ if self.scope == "read" else settings.API_THROTTLE_USER
        self.num_requests, self.duration = self.parse_rate(self.rate)
        try:
            return super().allow_request(request, view)
        except RedisError:
            logger.warning("Redis unreachable: request not throttled")
            return True


# --- API tokens (django-rest-knox, hashed, expiring; one per user) -------------------


class ApiTokenAuthentication(KnoxTokenAuthentication):
    """knox's check of 'Authorization: Token KEY' against the stored digests, with two changes:

    an expired token is refused but not deleted on the way (only token_revoke deletes, and it audits), and
    the time a token was last used is recorded (at most one write a minute per token).
    """

    def _cleanup_token(self, auth_token) -> bool:
        return auth_token.expiry is not None and auth_token.expiry < timezone.now()

    def validate_user(self, auth_token):
        result = super().validate_user(auth_token)
        now = timezone.now()
        if auth_token.last_used_at is None or now - auth_token.last_used_at > LAST_USED_RESOLUTION:
            type(auth_token).objects.filter(pk=auth_token.pk).update(last_used_at=now)
            auth_token.last_used_at = now
        return result


LAST_USED_RESOLUTION = timedelta(minutes=1)


class ApiTokenScheme(OpenApiAuthenticationExtension):
    target_class = "upwork_automation.permissions.ApiTokenAuthentication"
    name = "tokenAuth"

    def get_security_definition(self, auto_schema):
        return {
            "type": "apiKey",
            "in": "header",
            "name": "Authorization",
            "description": 'Token-based authentication with required prefix "Token"',
        }


def _token_view(token) -> dict:
    return {"user": token.user.get_username(), "key_prefix": token.token_key, "expires_at": token.expiry}


def token_create(*, user, source: str = "cli", actor=None, ttl_days: int | None = None, remote_addr: str | None = None):
    """Give the user an API token: (the token row, its key). The key is returned here only; the database keeps
    its digest. Refused if the user has one (revoke it first, so an old key never lingers)."""
    from queue_app.audit import audit_record
    from queue_app.models import ApiToken

    days = settings.API_TOKEN_TTL_DAYS if ttl_days is None else ttl_days
    if days <= 0:
        raise ValidationFailed("A token's lifetime must be at least one day.", field_errors={"ttl_days": ["> 0"]})
    with transaction.atomic():
        if ApiToken.objects.filter(user=user).exists():
            raise ValidationFailed(
                f"User '{user.get_username()}' already has a token; revoke it first "
                f"(manage.py api_token revoke {user.get_username()}).",
                field_errors={"user": ["Already has a token."]},
            )
        token, key = ApiToken.objects.create(user=user, expiry=timedelta(days=days))
        audit_record(
            action="token.create",
            object_type="token",
            object_id=user.pk,
            source=source,
            user=actor,
            after=_token_view(token),
            remote_addr=remote_addr,
        )
    return token, key


def token_revoke(*, user, source: str = "cli", actor=None, remote_addr: str | None = None) -> bool:
    """Delete the user's API token(s); False if there was none."""
    from queue_app.audit import audit_record
    from queue_app.models import ApiToken

    with transaction.atomic():
        tokens = list(ApiToken.objects.select_for_update().filter(user=user).select_related("user"))
        for token in tokens:
            before = _token_view(token)
            token.delete()
            audit_record(
                action="token.revoke",
                object_type="token",
                object_id=user.pk,
                source=source,
                user=actor,
                before=before,
                remote_addr=remote_addr,
            )
    return bool(tokens)
