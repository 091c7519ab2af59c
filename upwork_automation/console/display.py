"""Admin display helpers: money with its currency, short titles, change pages that are only for reading."""

from __future__ import annotations

from decimal import Decimal

from django.utils.html import format_html
from django.utils.text import Truncator

CURRENCY_SYMBOLS = {"USD": "$", "EUR": "€", "GBP": "£"}


def money(value, currency: str = "USD", *, per_hour: bool = False) -> str:
    """'$140,000' for whole amounts, '$55.50' otherwise; '-' when unknown."""
    if value is None or value == "":
        return "-"
    amount = Decimal(str(value))
    text = f"{amount:,.0f}" if amount == amount.to_integral_value() else f"{amount:,.2f}"
    symbol = CURRENCY_SYMBOLS.get(currency)
    shown = f"{symbol}{text}" if symbol else f"{text} {currency}"
    return f"{shown}/h" if per_hour else shown


def money_range(low, high, currency: str = "USD", *, per_hour: bool = False) -> str:
    if low is None and high is None:
        return "-"
    if low is None or high is None or low == high:
        return money(low if high is None else high, currency, per_hour=per_hour)
    return f"{money(low, currency)}-{money(high, currency, per_hour=per_hour)}"


def job_rate(job) -> str:
    """What a job pays: '$40-$70/h' for hourly, '$1,500' fixed, '-' when not stated."""
    if job.job_type == "hourly":
        return money_range(job.hourly_min, job.hourly_max, per_hour=True)
    return money(job.budget)


def short_title(title: str):
    """A title cut to fit one list row, the whole title in the tooltip."""
    short = Truncator(title).chars(48)
    if short == title:
        return title
    return format_html('<span title="{}">{}</span>', title, short)


class ReadOnlyChangePageMixin:
    """A change page that is only for reading: no Save buttons and no Delete link.

    `read_only_change_page(obj)` decides per object (default: always); actions stay on the list and the page's tools.
    """

    def read_only_change_page(self, obj) -> bool:
        return True

    def render_change_form(self, request, context, add=False, change=False, form_url="", obj=None):
        if change and obj is not None and self.read_only_change_page(obj):
            context.update(
                {
                    "show_save": False,
                    "show_save_and_continue": False,
                    "show_save_and_add_another": False,
                    "show_save_as_new": False,
                    "show_delete": False,
                }
            )
        return super().render_change_form(request, context, add=add, change=change, form_url=form_url, obj=obj)
