"""Bearer-token checks for the till API: staff sessions and device keys, by role."""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps
from typing import Any, TypeVar, cast

from flask import g, request

from edge_agent.i18n import Phrase
from edge_agent.staff import Actor, Forbidden, Role, authenticate
from pos_bridge import wiring

F = TypeVar("F", bound=Callable[..., Any])
ROLE_NAMES = {"cashier": Phrase("cashier"), "supervisor": Phrase("supervisor")}


def require(role: Role) -> Callable[[F], F]:
    """Refuse the request with 401/403 unless its bearer has at least `role`."""

    def decorate(view: F) -> F:
        @wraps(view)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            header = request.headers.get("Authorization", "")
            scheme, _, token = header.partition(" ")
            actor = authenticate(wiring.agent(), token.strip() if scheme == "Bearer" else "")
            if not actor.can(role):
                raise Forbidden(
                    Phrase("this needs a %(role)s; ask one to sign in", role=ROLE_NAMES[role])
                )
            g.actor = actor
            return view(*args, **kwargs)

        return cast(F, wrapper)

    return decorate


def current_actor() -> Actor:
    return g.actor
