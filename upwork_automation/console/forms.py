"""Form fields for list-valued JSON fields: a person types "Python, Django", the model stores ["Python", "Django"]."""

from __future__ import annotations

import json
import re

from django import forms

COMMA_HELP = "Separate items with commas, e.g. “Python, Django, PostgreSQL”."
LINES_HELP = "One item per line."


class ListField(forms.Field):
    """A list of strings typed as text: split on `separator`, trimmed, empties and repeats dropped.

    A value pasted as a JSON list (the old widget's format) is still accepted.
    """

    def __init__(self, *, separator: str = ",", choices: list[str] | None = None, **kwargs):
        self.separator = separator
        self.choices = list(choices) if choices else None
        if "widget" not in kwargs:
            kwargs["widget"] = (
                forms.TextInput(attrs={"class": "vLargeTextField list-input", "autocomplete": "off"})
                if separator == ","
                else forms.Textarea(attrs={"rows": 5, "class": "vLargeTextField"})
            )
        help_text = kwargs.pop("help_text", "")
        hint = COMMA_HELP if separator == "," else LINES_HELP
        if self.choices:
            hint += " Any of: " + ", ".join(self.choices) + "."
        kwargs["help_text"] = f"{help_text} {hint}".strip()
        super().__init__(**kwargs)

    def prepare_value(self, value):
        if isinstance(value, str):
            try:
                value = json.loads(value)
            except ValueError:
                return value  # a re-shown invalid input: leave it as typed
        if isinstance(value, list | tuple):
            joiner = ", " if self.separator == "," else "\n"
            return joiner.join(str(item) for item in value)
        return "" if value is None else value

    def to_python(self, value) -> list[str]:
        if value in (None, ""):
            return []
        if isinstance(value, list | tuple):
            items = [str(item) for item in value]
        else:
            text = str(value).strip()
            items = None
            if text.startswith("["):
                try:
                    parsed = json.loads(text)
                except ValueError:
                    parsed = None
                if isinstance(parsed, list):
                    items = [str(item) for item in parsed]
            if items is None:
                pattern = r"[,\n]" if self.separator == "," else r"\n"
                items = re.split(pattern, text)
        cleaned: list[str] = []
        for item in items:
            item = item.strip()
            if item and item not in cleaned:
                cleaned.append(item)
        return cleaned

    def validate(self, value: list[str]) -> None:
        if self.required and not value:
            raise forms.ValidationError(self.error_messages["required"], code="required")
        if self.choices:
            unknown = [item for item in value if item not in self.choices]
            if unknown:
                raise forms.ValidationError(
                    "Unknown: %(unknown)s. Use any of: %(known)s.",
                    code="invalid_choice",
                    params={"unknown": ", ".join(unknown), "known": ", ".join(self.choices)},
                )

    def has_changed(self, initial, data) -> bool:
        return self.to_python(self.prepare_value(initial)) != self.to_python(data)


class ListFieldsAdminMixin:
    """ModelAdmin mixin: the JSON list fields named in `comma_list_fields` / `line_list_fields` get a ListField."""

    comma_list_fields: tuple[str, ...] = ()
    line_list_fields: tuple[str, ...] = ()
    list_field_choices: dict[str, list[str]] = {}

    def formfield_for_dbfield(self, db_field, request, **kwargs):
        separator = "," if db_field.name in self.comma_list_fields else None
        if db_field.name in self.line_list_fields:
            separator = "\n"
        if separator is None:
            return super().formfield_for_dbfield(db_field, request, **kwargs)
        return ListField(
            separator=separator,
            choices=self.list_field_choices.get(db_field.name),
            required=not db_field.blank,
            label=db_field.verbose_name.capitalize(),
            help_text=db_field.help_text,
        )
