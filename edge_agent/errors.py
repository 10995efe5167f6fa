"""Named errors of the agent. Each carries a stable `code` for the wire and a sentence
a cashier or an operator can act on; the web layer maps them to one JSON shape."""

from __future__ import annotations

from sync.protocol.errors import ProtocolError
from wallet.errors import WalletFailure


class EdgeAgentError(Exception):
    """Base of every error the agent raises on purpose."""

    code = "agent_error"
    http_status = 500

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


# Everything raised on purpose, by the agent or by the packages it uses: each carries a
# `code`, an `http_status` and a `message` a person can act on.
KNOWN_ERRORS: tuple[type[Exception], ...] = (EdgeAgentError, WalletFailure, ProtocolError)


class ConfigError(EdgeAgentError):
    """The configuration cannot be used; the message names the file or variable and key."""

    code = "config_invalid"


class StoreError(EdgeAgentError):
    """The local database cannot be opened, migrated or written."""

    code = "store_unavailable"
    http_status = 503


class InvalidInput(EdgeAgentError):
    """A request or scan is malformed; nothing was changed."""

    code = "invalid_input"
    http_status = 400


class InputRefused(InvalidInput):
    """Well-formed input the store does not accept on its own terms: text that is not an
    order number by this store's pattern, nor a loyalty number, email or phone; a line the
    order does not have; a currency it does not take. A business refusal (422), where
    `InvalidInput` (400) says the request itself is malformed."""

    code = "input_refused"
    http_status = 422


class NotFound(EdgeAgentError):
    code = "not_found"
    http_status = 404


class CustomerNotFound(NotFound):
    code = "customer_not_found"


class OrderNotFound(NotFound):
    code = "order_not_found"
