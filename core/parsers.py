"""JSON input limits: the API's request parser (DRF's DEFAULT_PARSER_CLASSES) and serializer field, and the
admin's JSON form field.

Kept apart from api.py, which DRF's views import (the parser setting is read when APIView is defined)."""

from __future__ import annotations

from django import forms
from django.core.exceptions import ValidationError
from django.db import models
from rest_framework import exceptions, serializers
from rest_framework.parsers import JSONParser

# No API input is legitimately nested deeper; Python's parser raises RecursionError (a 500) at about 1,000 levels,
# and deep values cost the encoder, the audit copy and PostgreSQL's jsonb later.
JSON_MAX_DEPTH = 64


def json_depth_exceeds(value, limit: int = JSON_MAX_DEPTH) -> bool:
    """Whether a parsed JSON value nests lists/objects deeper than `limit` (iterative: no recursion of its own)."""
    stack = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, dict | list):
            if depth > limit:
                return True
            children = item.values() if isinstance(item, dict) else item
            stack.extend((child, depth + 1) for child in children if isinstance(child, dict | list))
    return False


class ApiJSONParser(JSONParser):
    """DRF's JSON parser, with too-deep nesting answered as a 400 parse error instead of a RecursionError (500)."""

    def parse(self, stream, media_type=None, parser_context=None):
        too_deep = exceptions.ParseError(f"JSON parse error - nested deeper than {JSON_MAX_DEPTH} levels.")
        try:
            data = super().parse(stream, media_type, parser_context)
        except RecursionError:
            raise too_deep from None
        if json_depth_exceeds(data):
            raise too_deep
        return data


class DepthLimitedJSONField(serializers.JSONField):
    """A JSON serializer field whose value, sent as a JSON string in a form, is held to the same depth limit."""

    def to_internal_value(self, data):
        too_deep = serializers.ValidationError(f"Nested deeper than {JSON_MAX_DEPTH} levels.", code="too_deep")
        try:
            value = super().to_internal_value(data)
        except RecursionError:
            raise too_deep from None
        if json_depth_exceeds(value):
            raise too_deep
        return value


class DepthLimitedJSONFormField(forms.JSONField):
    """Django's JSON form field (the admin's), with too-deep nesting a form error instead of a RecursionError (500)."""

    def to_python(self, value):
        too_deep = ValidationError(f"Nested deeper than {JSON_MAX_DEPTH} levels.", code="too_deep")
        try:
            converted = super().to_python(value)
        except RecursionError:
            raise too_deep from None
        if json_depth_exceeds(converted):
            raise too_deep
        return converted

    def bound_data(self, data, initial):
        """The form shown again with its error keeps what was typed (Django's would raise RecursionError here)."""
        try:
            return super().bound_data(data, initial)
        except RecursionError:
            return forms.fields.InvalidJSONInput(data)


class JSONInputLimitsAdminMixin:
    """For a ModelAdmin whose form edits a JSONField: the depth-limited form field."""

    formfield_overrides = {models.JSONField: {"form_class": DepthLimitedJSONFormField}}
