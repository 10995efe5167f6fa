"""Response bodies that are not domain values themselves: small wrappers, so the views
and the OpenAPI document share one definition of each shape."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from edge_agent.domain import OrderSummary, ReturnConflict
from edge_agent.lists import ShoppingList
from edge_agent.loyalty import LoyaltyConflict


@dataclass(frozen=True)
class CustomerOrders:
    customer_id: str
    orders: tuple[OrderSummary, ...]


@dataclass(frozen=True)
class OrderSearch:
    query: str
    customer_id: str | None
    orders: tuple[OrderSummary, ...]


@dataclass(frozen=True)
class OpenConflicts:
    conflicts: tuple[ReturnConflict, ...]


@dataclass(frozen=True)
class LoyaltyConflicts:
    conflicts: tuple[LoyaltyConflict, ...]


@dataclass(frozen=True)
class CustomerLists:
    customer_id: str
    lists: tuple[ShoppingList, ...]


@dataclass(frozen=True)
class SignedIn:
    token: str
    staff_id: str
    role: str
    till_id: str | None
    expires_at: datetime


@dataclass(frozen=True)
class SignedOut:
    signed_out: str


@dataclass(frozen=True)
class ErrorDetail:
    code: str
    message: str


@dataclass(frozen=True)
class ErrorBody:
    error: ErrorDetail
