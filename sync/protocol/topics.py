"""The topic scheme shared by stores and the centre (see ARCHITECTURE.md)."""

from __future__ import annotations

from dataclasses import dataclass

# Several edge-central workers split the events between them through this MQTT 5 shared
# subscription group; a shared subscription keeps no order, so the centre restores it
# from each device's sequence.
SHARED_GROUP = "edge-central"


@dataclass(frozen=True)
class StoreTopics:
    """Every topic one store uses, under the configured prefix."""

    prefix: str
    store_id: str

    @property
    def base(self) -> str:
        return f"{self.prefix}/stores/{self.store_id}"

    @property
    def events(self) -> str:
        return f"{self.base}/events"

    @property
    def acks(self) -> str:
        return f"{self.base}/acks"

    @property
    def changes(self) -> str:
        return f"{self.base}/changes"

    @property
    def resync(self) -> str:
        return f"{self.base}/resync"

    @property
    def lookups(self) -> str:
        """Look-up requests to the centre (MQTT 5 request/response)."""
        return f"{self.base}/lookups"

    def lookup_replies(self, device_id: str) -> str:
        """Per device: the response topic its look-up requests name."""
        return f"{self.base}/lookups/replies/{device_id}"

    def status(self, device_id: str) -> str:
        """Per device: a store has several tills, each with its own last will."""
        return f"{self.base}/status/{device_id}"


def revocations_topic(prefix: str) -> str:
    """Retained, for every store: the full list of revoked pass serials."""
    return f"{prefix}/broadcast/revocations"


def key_set_topic(prefix: str) -> str:
    """Retained, for every store: the public keys pass codes are checked with."""
    return f"{prefix}/broadcast/keys"


def store_id_from_topic(prefix: str, topic: str) -> str | None:
    """`{prefix}/stores/{id}/{leaf}[/{device}]` -> id, or None for any other topic."""
    head = f"{prefix}/stores/"
    if not topic.startswith(head):
        return None
    parts = topic[len(head) :].split("/")
    return parts[0] if len(parts) in (2, 3) and parts[0] else None


def central_subscriptions(prefix: str) -> dict[str, str]:
    """Leaf -> subscription filter for an edge-central worker: each message reaches one
    worker of the group."""
    return {
        "events": f"$share/{SHARED_GROUP}/{prefix}/stores/+/events",
        "resync": f"$share/{SHARED_GROUP}/{prefix}/stores/+/resync",
        # Shared: any one worker answers a look-up.
        "lookups": f"$share/{SHARED_GROUP}/{prefix}/stores/+/lookups",
        # Shared too: the workers write one fleet table, so one write per status is
        # enough. The retained ones come through `central_retained_fetch`.
        "status": f"$share/{SHARED_GROUP}/{prefix}/stores/+/status/+",
    }


def central_retained_fetch(prefix: str) -> list[str]:
    """Plain subscription filters an edge-central worker holds only for the retained
    messages on them, once per broker session (sync.link.RetainedFetch): a shared
    subscription is sent none, and a worker starting after all were down must still
    learn every device's last status. Held on, they would bring every worker every live
    status as well."""
    return [f"{prefix}/stores/+/status/+"]
