"""Money as people read it: minor units and currency, formatted in the store's locale."""

from __future__ import annotations

from decimal import Decimal

from babel.numbers import format_currency, get_currency_precision

from edge_agent.domain import Money


def format_money(money: Money, locale: str) -> str:
    """`Money(1995, "EUR")` in es_ES -> '19,95 €'."""
    digits = get_currency_precision(money.currency)
    amount = Decimal(money.amount_minor).scaleb(-digits)
    return format_currency(amount, money.currency, locale=locale)
