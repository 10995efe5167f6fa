"""Named refusals and failures of the wallet package.

Every refusal of a scanned pass code has its own class and `code`, so the till can say
exactly why ("this pass was revoked", not "invalid"), and the centre can count forgeries
apart from worn-out screenshots.
"""

from __future__ import annotations


class WalletFailure(Exception):
    """Base of every error the wallet raises on purpose: a stable `code` for the wire, an
    `http_status`, and a sentence a cashier or an operator can act on."""

    code = "wallet_error"
    http_status = 500

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class WalletError(WalletFailure):
    """A pass could not be issued, signed or delivered (operator problem, not the customer's)."""

    code = "wallet_error"
    http_status = 500


class PassRefused(WalletFailure):
    """A scanned pass code is not accepted as proof of anything."""

    code = "pass_refused"
    http_status = 422


class MalformedPassCode(PassRefused):
    code = "pass_malformed"

    def __init__(self, message: str = "not a readable pass code; scan the pass again") -> None:
        super().__init__(message)


class AlteredPassCode(PassRefused):
    code = "pass_altered"

    def __init__(
        self, message: str = "this pass code was changed after it was issued; ask for the pass"
    ) -> None:
        super().__init__(message)


class BadPassSignature(PassRefused):
    code = "pass_bad_signature"

    def __init__(
        self,
        message: str = "this pass was not issued by us (signature does not match); "
        "do not accept it",
    ) -> None:
        super().__init__(message)


class UnknownPassKey(PassRefused):
    code = "pass_unknown_key"

    def __init__(self, key_id: int) -> None:
        super().__init__(
            f"this pass is signed with key {key_id}, which this store does not know; "
            "the store may need the centre's newest keys (check sync), or the pass is forged"
        )
        self.key_id = key_id


class ExpiredPass(PassRefused):
    code = "pass_expired"

    def __init__(
        self, message: str = "this pass has expired; the customer can get a new one"
    ) -> None:
        super().__init__(message)


class RevokedPass(PassRefused):
    code = "pass_revoked"

    def __init__(
        self, message: str = "this pass was revoked; ask for ID or the customer's current pass"
    ) -> None:
        super().__init__(message)


class WrongPassKind(PassRefused):
    code = "pass_wrong_kind"

    def __init__(self, got: str, wanted: tuple[str, ...]) -> None:
        super().__init__(f"this is a {got} pass; here a {' or '.join(wanted)} pass is needed")
        self.got = got
        self.wanted = wanted


class StaleRotatingCode(PassRefused):
    code = "pass_code_stale"

    def __init__(
        self,
        message: str = "this rotating code is out of date (a screenshot?); "
        "ask the customer to open the pass in their wallet app",
    ) -> None:
        super().__init__(message)


class NotifyLimitReached(WalletError):
    code = "wallet_notify_limit"
    http_status = 429
