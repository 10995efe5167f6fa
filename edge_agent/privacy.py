"""Email and phone numbers are kept only as salted hashes, good for look-up and nothing
else: the same address typed in any case or format finds the same customer, and a copy
of the database does not reveal who the customers are."""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets

import phonenumbers

from edge_agent.errors import InputRefused

SALT_META_KEY = "privacy.lookup_salt"
# Deliberately loose: the look-up only needs a canonical form, validity is the centre's job.
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")


class LookupHasher:
    """Turns an email or phone into the hash stored beside the customer."""

    def __init__(self, salt: str, default_region: str) -> None:
        if not salt:
            raise ValueError("a look-up salt is required")
        self._key = salt.encode()
        self._region = default_region

    def email(self, email: str) -> str:
        return self._digest("email", normalise_email(email))

    def phone(self, phone: str) -> str:
        return self._digest("phone", normalise_phone(phone, self._region))

    def _digest(self, kind: str, value: str) -> str:
        return hmac.new(self._key, f"{kind}:{value}".encode(), hashlib.sha256).hexdigest()


def normalise_email(email: str) -> str:
    value = email.strip().lower()
    if not _EMAIL.match(value):
        raise InputRefused("that is not an email address (expected name@domain)")
    return value


def normalise_phone(phone: str, region: str) -> str:
    """E.164 form; a number without a country code is read as the store's country."""
    try:
        number = phonenumbers.parse(phone, region)
    except phonenumbers.NumberParseException:
        raise InputRefused("that is not a phone number") from None
    if not phonenumbers.is_possible_number(number):
        raise InputRefused("that phone number has the wrong number of digits")
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


def new_salt() -> str:
    return secrets.token_hex(32)
