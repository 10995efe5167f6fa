"""Each device's hash chain over its events, so the centre can tell when a device's
history was rewritten.

Every event carries `chainprev`, an extension attribute: the SHA-256 (hex) of the
previous event of the same device exactly as it went on the wire, i.e. its JSON text
with the `sequence` attribute, which the store writes once, in the outbox append, and
sends byte for byte (sync.protocol.batches.stamp_sequence). The hash
covers the sequence and the previous link, so altering, removing, reordering or
renumbering an event breaks the link its successor carries. A device's first chained
event carries `GENESIS`. Events from agents that predate the chain carry no attribute:
the centre accepts them and marks the device unchained.

Receivers can check the chain too: the body of each delivered event is that text.
"""

from __future__ import annotations

import hashlib
import re

CHAIN_ATTRIBUTE = "chainprev"
GENESIS = "0" * 64
_HEX64 = re.compile(r"^[0-9a-f]{64}$")


def event_hash(text_as_sent: str) -> str:
    return hashlib.sha256(text_as_sent.encode()).hexdigest()


def is_link(value: object) -> bool:
    """Whether `value` can be a `chainprev` (64 lower-case hex digits)."""
    return isinstance(value, str) and _HEX64.match(value) is not None
