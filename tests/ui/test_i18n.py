"""The screens' catalogs: every string the templates and views use has a Spanish
translation that keeps its placeholders, and money and dates follow the locale."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from pathlib import Path

from babel.messages.extract import extract_from_dir
from babel.messages.pofile import read_po

from edge_agent import i18n as catalog
from edge_agent.domain import Money
from hardware.money import format_money
from pos_bridge import i18n

PACKAGE = Path(i18n.__file__).parent
AGENT = Path(catalog.__file__).parent
PLACEHOLDER = re.compile(r"%\(\w+\)[sd]")


def used_messages() -> set[str | tuple[str, str]]:
    """Every message id the screens, receipts and use cases use (`Phrase` marks the use
    cases' sentences)."""
    method_map = [("**/templates/**.html", "jinja2"), ("**.py", "python")]
    keywords = {"_": None, "gettext": None, "ngettext": (1, 2), "Phrase": None}
    return {
        m[2]
        for package in (PACKAGE, AGENT)
        for m in extract_from_dir(str(package), method_map, keywords=keywords)
    }


def spanish_catalog():
    with (catalog.TRANSLATIONS_DIR / "es/LC_MESSAGES/messages.po").open("rb") as handle:
        return read_po(handle, locale="es")


def test_every_screen_string_has_a_spanish_translation():
    catalog = spanish_catalog()
    used = used_messages()
    assert len(used) > 100
    missing = []
    for message in used:
        key = message[0] if isinstance(message, tuple) else message
        entry = catalog.get(key)
        if (
            entry is None
            or entry.fuzzy
            or not all(entry.string if isinstance(entry.string, tuple) else [entry.string])
        ):
            missing.append(key)
    assert missing == []


def test_translations_keep_their_placeholders():
    for entry in spanish_catalog():
        if not entry.id:
            continue
        ids = entry.id if isinstance(entry.id, tuple) else (entry.id,)
        strings = entry.string if isinstance(entry.string, tuple) else (entry.string,)
        wanted = set(PLACEHOLDER.findall(ids[-1]))
        for translated in strings:
            assert set(PLACEHOLDER.findall(translated)) <= wanted | set(
                PLACEHOLDER.findall(ids[0])
            ), entry.id


def test_catalog_compiles_and_plurals_follow_spanish_rules():
    spanish = catalog.translations("es")
    assert spanish.gettext("Welcome") == "Bienvenido"
    assert spanish.ngettext("%(num)s point", "%(num)s points", 1) == "%(num)s punto"
    assert spanish.ngettext("%(num)s point", "%(num)s points", 5) == "%(num)s puntos"
    english = catalog.translations("en")
    assert english.gettext("Welcome") == "Welcome"


def test_locale_for_a_language_in_the_stores_country():
    assert i18n.locale_for("es", "es_ES") == "es_ES"
    assert i18n.locale_for("en", "es_ES") == "en_ES"
    assert i18n.locale_for("en", "en_GB") == "en_GB"


def test_money_and_dates_follow_the_chosen_language(till):
    price = Money(123456, "EUR")
    when = datetime(2026, 11, 2, 11, 30, tzinfo=UTC)
    with till.app.test_request_context("/kiosk/"):
        from flask import session

        session["lang"] = "es"
        assert i18n.money(price) == format_money(price, "es_ES") == "1.234,56\xa0€"
        assert i18n.local_date(when) == "2 nov 2026"
    with till.app.test_request_context("/kiosk/"):
        from flask import session

        session["lang"] = "en"
        assert i18n.money(price) == format_money(price, "en_ES")
        assert i18n.local_date(when) == "2 Nov 2026"
        assert i18n.local_datetime(when).startswith("2 Nov 2026")
        assert "12:30" in i18n.local_datetime(when)  # Madrid is UTC+1 in November
