"""Money, and how people read it: integer minor units and an ISO 4217 currency, formatted
in a locale. Defined here, in the leaf, so receipts can print it; the agent's domain uses
this same type, and its screens this same formatter, so a receipt and the till's screen
never show one amount two ways."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from babel.numbers import format_currency, get_currency_precision


@dataclass(frozen=True)
class Money:
    amount_minor: int
    currency: str


def format_money(money: Money, locale: str) -> str:
    """`Money(1995, "EUR")` in es_ES -> '19,95 €'."""
    digits = get_currency_precision(money.currency)
    amount = Decimal(money.amount_minor).scaleb(-digits)
    return format_currency(amount, money.currency, locale=locale)
