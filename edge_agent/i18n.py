"""The one message catalog for everything a customer or a cashier reads: screens,
receipts and the sentences the use cases refuse with. Source strings are English; the
catalogs are `translations/<lang>/LC_MESSAGES/messages.po`, compiled in memory with
Babel when first used (no compiled `.mo` is committed to drift from its source).

A use case that refuses with a sentence holding values (an order number, a date) raises
it as a `Phrase`: English text, as the API and the logs show it, that remembers its
catalog message id and values, so a screen or a receipt says it in the reader's language.
"""

from __future__ import annotations

import functools
import gettext
from collections.abc import Mapping
from io import BytesIO
from pathlib import Path
from typing import Any

from babel import Locale
from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po
from babel.support import Translations

TRANSLATIONS_DIR = Path(__file__).parent / "translations"


class Phrase(str):
    """`template % values` in English, carrying `template` (the catalog's message id) and
    `values` (each may be a Phrase itself, translated in turn)."""

    template: str
    values: Mapping[str, Any]

    def __new__(cls, template: str, **values: Any) -> Phrase:
        text = super().__new__(cls, template % values if values else template)
        text.template = template
        text.values = values
        return text


@functools.cache
def translations(lang: str) -> gettext.NullTranslations:
    """The catalog for `lang` (`es`, `en`), or the English source strings."""
    po = TRANSLATIONS_DIR / lang / "LC_MESSAGES" / "messages.po"
    if not po.is_file():
        return gettext.NullTranslations()
    with po.open("rb") as handle:
        catalog = read_po(handle, locale=lang)
    compiled = BytesIO()
    write_mo(compiled, catalog)
    compiled.seek(0)
    return Translations(compiled)


def translate(text: str, lang: str) -> str:
    """`text` in `lang`: a Phrase through its template and values, any other string as a
    message id (a sentence the catalog lacks stays as it is)."""
    catalog = translations(lang)
    if isinstance(text, Phrase) and text.values:
        values = {
            name: translate(value, lang) if isinstance(value, str) else value
            for name, value in text.values.items()
        }
        return catalog.gettext(text.template) % values
    return catalog.gettext(str(text)) if text else text


def language_of(locale: str) -> str:
    """`es` for `es_ES`: the catalog a locale reads."""
    return Locale.parse(locale).language
