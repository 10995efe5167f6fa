"""The screens' language: the catalog (edge_agent.i18n, shared with the receipts and the
use cases' refusals) in the request's language, and money and dates in the reader's
locale. `|tr` says a use case's sentence (a Phrase) in the screen's language."""

from __future__ import annotations

import functools
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from babel import Locale, UnknownLocaleError
from babel.dates import format_date, format_time
from babel.numbers import format_decimal
from flask import Flask, g, session

from edge_agent.context import AgentContext
from edge_agent.domain import Money
from edge_agent.i18n import translate, translations
from hardware.money import format_money
from pos_bridge import wiring

LANG_SESSION_KEY = "lang"


def install_i18n(app: Flask) -> None:
    """Give templates `_()`/`ngettext()` in the request's language and locale filters."""
    app.jinja_env.add_extension("jinja2.ext.i18n")
    app.jinja_env.install_gettext_callables(  # type: ignore[attr-defined]
        lambda message: translations(current_lang()).gettext(message),
        lambda singular, plural, n: translations(current_lang()).ngettext(singular, plural, n),
        newstyle=True,
    )
    app.jinja_env.filters["money"] = lambda money: format_money(money, current_locale())
    app.jinja_env.filters["number"] = lambda value: format_decimal(value, locale=current_locale())
    app.jinja_env.filters["date"] = lambda when: local_date(when)
    app.jinja_env.filters["datetime"] = lambda when: local_datetime(when)
    app.jinja_env.filters["tr"] = lambda text: translate(text, current_lang()) if text else text
    app.jinja_env.globals["current_lang"] = current_lang


def _(message: str, **values: Any) -> str:
    """Translate a message for the current request (values fill %(name)s)."""
    text = translations(current_lang()).gettext(message)
    return text % values if values else text


def current_lang() -> str:
    cached = g.get("lang")
    if cached:
        return cached
    ctx: AgentContext = wiring.agent()
    offered = ctx.config.kiosk.languages
    chosen = session.get(LANG_SESSION_KEY)
    if chosen not in offered:
        store_lang = Locale.parse(ctx.config.store.locale).language
        chosen = store_lang if store_lang in offered else offered[0]
    g.lang = chosen
    return chosen


def current_locale() -> str:
    """The store's locale in the chosen language: es_ES, or en_ES for English in Spain."""
    ctx: AgentContext = wiring.agent()
    return locale_for(current_lang(), ctx.config.store.locale)


@functools.cache
def locale_for(lang: str, store_locale: str) -> str:
    store = Locale.parse(store_locale)
    if store.language == lang:
        return store_locale
    try:
        return str(Locale.parse(f"{lang}_{store.territory}"))
    except (UnknownLocaleError, ValueError):
        return lang


def money(value: Money) -> str:
    return format_money(value, current_locale())


def local_date(when: datetime) -> str:
    return format_date(_local(when), "medium", locale=current_locale())


def local_datetime(when: datetime) -> str:
    local = _local(when)
    locale = current_locale()
    day = format_date(local, "medium", locale=locale)
    return f"{day} {format_time(local, 'short', locale=locale)}"


def _local(when: datetime) -> datetime:
    ctx: AgentContext = wiring.agent()
    return when.astimezone(ZoneInfo(ctx.config.store.timezone))
