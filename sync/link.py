"""The one place that talks to paho-mqtt: a small MQTT 5 client for stores and the centre.

Nothing outside `sync/` imports paho. paho runs its network loop in its own thread and
calls our callbacks from there, so callers get plain values and hand work to their own
threads (an sqlite3 connection belongs to the thread that opened it).
"""

from __future__ import annotations

import logging
import random
import ssl
import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import unquote, urlsplit

import paho.mqtt.client as paho
from paho.mqtt.enums import CallbackAPIVersion
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties
from paho.mqtt.reasoncodes import ReasonCode
from paho.mqtt.subscribeoptions import SubscribeOptions

from sync.errors import MessageTooLarge, SyncError

log = logging.getLogger(__name__)

# A week: a store offline over a long weekend still finds its subscriptions (and any
# change-feed messages the broker kept) when it comes back; resync covers the rest.
SESSION_EXPIRY_SECONDS = 7 * 24 * 3600
# Short enough that the centre sees a dead store (last will) within about a minute.
KEEPALIVE_SECONDS = 30
# Reconnect backoff: paho doubles from the first delay up to the cap. The first delay is
# drawn per client so a fleet that lost the broker together does not return in lockstep.
RECONNECT_MIN_SECONDS = (1, 3)
RECONNECT_MAX_SECONDS = 60
DEFAULT_PORTS = {"mqtt": 1883, "mqtts": 8883}
# Fixed header (up to 5 bytes), topic length (2), packet id (2) and an empty property
# block (1), rounded up: what a PUBLISH adds to its topic and payload.
PUBLISH_OVERHEAD_BYTES = 16


@dataclass(frozen=True)
class Will:
    topic: str
    payload: bytes
    retain: bool = True


@dataclass(frozen=True)
class BrokerSettings:
    """How to reach the broker: `mqtt://[user:pass@]host[:port]` or `mqtts://...`."""

    url: str
    client_id: str
    ca_file: Path | None = None
    cert_file: Path | None = None
    key_file: Path | None = None
    max_inflight: int = 100
    persistent_session: bool = True
    session_expiry_seconds: int = SESSION_EXPIRY_SECONDS
    # paho sends every message the broker had not acknowledged again on reconnect, from
    # memory. A store's outbox does that itself, from disk and in order; paho's copy
    # would also send a message the broker drops the connection on (over its size limit)
    # again on every reconnect, so the store's link forgets them.
    forget_unacked_on_disconnect: bool = False
    # MQTT 5 Receive Maximum: at most this many QoS 1 messages delivered to us and not
    # yet acknowledged. Set, the owner acknowledges each message itself (`MqttLink.ack`)
    # once it has dealt with it, so the broker's queue, not our memory, holds the rest.
    # None: paho acknowledges each message as soon as the callback returns (the store).
    receive_maximum: int | None = None


@dataclass(frozen=True)
class Message:
    topic: str
    payload: bytes
    retain: bool
    # MQTT 5 request/response (look-ups): where to answer, and what to echo back.
    response_topic: str | None = None
    correlation_data: bytes | None = None
    content_type: str | None = None  # MQTT 5 Content Type: what the payload is
    # For `MqttLink.ack`: the packet id, QoS and connection it arrived on.
    mid: int = 0
    qos: int = 0
    connection: int = 0


class MqttLink:
    """A reconnecting MQTT 5 connection. `start()` returns at once; it connects in the
    background and retries with backoff until `stop()`.

    `fetch_retained`: filters subscribed only for the retained messages on them, once
    per broker session (`RetainedFetch`), for an owner whose `subscriptions` take the
    live messages through a shared subscription, which gets no retained ones. With it,
    `subscriptions` ask for no retained messages (Retain Handling 2): some brokers
    (Mosquitto 2.0.11) do send them to a new shared subscription, and they would come
    twice."""

    def __init__(
        self,
        settings: BrokerSettings,
        subscriptions: list[tuple[str, int]],
        on_message: Callable[[Message], None],
        on_connected: Callable[[], None] | None = None,
        on_published: Callable[[int, str | None], None] | None = None,
        will: Will | None = None,
        on_disconnected: Callable[[], None] | None = None,
        fetch_retained: list[tuple[str, int]] | None = None,
    ) -> None:
        self.settings = settings
        self._subscriptions: list[tuple[str, int]] | list[tuple[str, SubscribeOptions]] = (
            [(topic, _without_retained(qos)) for topic, qos in subscriptions]
            if fetch_retained
            else subscriptions
        )
        self.retained_fetch = RetainedFetch(fetch_retained) if fetch_retained else None
        self._on_message = on_message
        self._on_connected = on_connected
        self._on_published = on_published
        self._on_disconnected = on_disconnected
        self.connected = threading.Event()
        self._stopping = False
        # The broker's MaximumPacketSize from its CONNACK, when it says one. Mosquitto
        # drops the whole connection on a bigger packet instead of refusing that message.
        self.max_packet_size: int | None = None
        self.last_error: str | None = None
        self._connection = 0  # counts CONNACKs: a packet id means nothing on another
        parts = urlsplit(settings.url)
        if parts.scheme not in DEFAULT_PORTS or not parts.hostname:
            raise SyncError(f"broker URL {settings.url!r} must be mqtt://host[:port] or mqtts://")
        self._host = parts.hostname
        self._port = parts.port or DEFAULT_PORTS[parts.scheme]
        client = paho.Client(
            CallbackAPIVersion.VERSION2,
            client_id=settings.client_id,
            protocol=paho.MQTTv5,
            manual_ack=settings.receive_maximum is not None,
        )
        if parts.username:
            client.username_pw_set(unquote(parts.username), unquote(parts.password or ""))
        if parts.scheme == "mqtts":
            client.tls_set(
                ca_certs=str(settings.ca_file) if settings.ca_file else None,
                certfile=str(settings.cert_file) if settings.cert_file else None,
                keyfile=str(settings.key_file) if settings.key_file else None,
                tls_version=ssl.PROTOCOL_TLS_CLIENT,
            )
        if will is not None:
            client.will_set(will.topic, will.payload, qos=1, retain=will.retain)
        client.max_inflight_messages_set(settings.max_inflight)
        client.max_queued_messages_set(0)  # our own window bounds what we hand to paho
        client.reconnect_delay_set(random.randint(*RECONNECT_MIN_SECONDS), RECONNECT_MAX_SECONDS)
        client.on_connect = self._handle_connect
        client.on_disconnect = self._handle_disconnect
        client.on_connect_fail = self._handle_connect_fail
        client.on_message = self._handle_message
        client.on_publish = self._handle_publish
        client.on_subscribe = self._handle_subscribe
        client.on_unsubscribe = self._handle_unsubscribe
        self._client = client

    def start(self) -> None:
        properties = Properties(PacketTypes.CONNECT)
        properties.SessionExpiryInterval = (
            self.settings.session_expiry_seconds if self.settings.persistent_session else 0
        )
        if self.settings.receive_maximum is not None:
            properties.ReceiveMaximum = self.settings.receive_maximum
        self._client.connect_async(
            self._host,
            self._port,
            keepalive=KEEPALIVE_SECONDS,
            clean_start=not self.settings.persistent_session,
            properties=properties,
        )
        self._client.loop_start()

    def stop(self, final: tuple[str, bytes] | None = None, end_session: bool = False) -> None:
        """Disconnect cleanly; `final` is published (retained) first, e.g. status offline.
        `end_session` tells the broker to drop the session now instead of keeping it."""
        if final is not None and self.connected.is_set():
            info = self._client.publish(final[0], final[1], qos=1, retain=True)
            info.wait_for_publish(timeout=2)
        properties = None
        if end_session:
            properties = Properties(PacketTypes.DISCONNECT)
            properties.SessionExpiryInterval = 0
        self._stopping = True
        self._client.disconnect(properties=properties)
        self._client.loop_stop()
        self.connected.clear()

    def publish(
        self,
        topic: str,
        payload: bytes,
        qos: int = 1,
        retain: bool = False,
        response_topic: str | None = None,
        correlation_data: bytes | None = None,
        content_type: str | None = None,
    ) -> int:
        """Hand one message to the client; returns its message id. Raises SyncError if
        the link is down (the caller keeps the message and sends it again later).
        `response_topic` and `correlation_data` make it an MQTT 5 request or reply;
        `content_type` says what the payload is (e.g. a batch of events)."""
        properties = None
        if response_topic is not None or correlation_data is not None or content_type:
            properties = Properties(PacketTypes.PUBLISH)
            if response_topic is not None:
                properties.ResponseTopic = response_topic
            if correlation_data is not None:
                properties.CorrelationData = correlation_data
            if content_type:
                properties.ContentType = content_type
        limit = self.max_packet_size
        size = len(payload) + len(topic.encode()) + PUBLISH_OVERHEAD_BYTES
        if properties is not None:
            size += len(properties.pack()) - 1  # the overhead counts an empty block
        if limit is not None and size > limit:
            raise MessageTooLarge(
                f"a {size}-byte message is over the broker's limit of {limit} bytes"
            )
        info = self._client.publish(topic, payload, qos=qos, retain=retain, properties=properties)
        if info.rc != paho.MQTT_ERR_SUCCESS:
            raise SyncError(f"publish to {topic} failed: {paho.error_string(info.rc)}")
        return info.mid

    def ack(self, message: Message) -> None:
        """Acknowledge a QoS 1 message to the broker (with `receive_maximum` set): it may
        then deliver the next one in its place. Thread-safe. A message from an earlier
        connection is not acknowledged: its packet id may name another message now, and
        the broker delivers it again anyway."""
        if self.settings.receive_maximum is None or message.qos == 0:
            return
        if message.connection != self._connection or not self.connected.is_set():
            return
        self._client.ack(message.mid, message.qos)

    def _handle_connect(self, client, userdata, flags, reason_code, properties) -> None:  # type: ignore[no-untyped-def]
        if reason_code.is_failure:
            self.last_error = f"broker refused the connection: {reason_code}"
            log.warning("%s", self.last_error)
            return
        self.last_error = None
        self._connection += 1
        self.max_packet_size = getattr(properties, "MaximumPacketSize", None)
        if self._subscriptions:
            client.subscribe(self._subscriptions)
        if self.retained_fetch is not None:
            # After the subscriptions above, in a SUBSCRIBE of its own: the broker takes
            # them in order, so the live messages have a subscription before the fetch's
            # ends, and its SUBACK is the fetch's own.
            self.retained_fetch.connected(client, bool(flags.session_present))
        self.connected.set()
        log.info("connected to %s:%s as %s", self._host, self._port, self.settings.client_id)
        if self._on_connected is not None:
            self._on_connected()

    def _handle_connect_fail(self, client, userdata) -> None:  # type: ignore[no-untyped-def]
        # paho retries on its own with backoff; this is only so /healthz can say why.
        self.last_error = f"cannot connect to the broker at {self._host}:{self._port}"

    def _handle_disconnect(self, client, userdata, flags, reason_code, properties) -> None:  # type: ignore[no-untyped-def]
        if self.connected.is_set():
            # Our own stop is no news; any other disconnect is something ops should see.
            level = logging.INFO if self._stopping else logging.WARNING
            log.log(level, "disconnected from the broker: %s", reason_code)
        else:
            # Dropped before CONNACK: a TLS or credential refusal on the broker's side.
            self.last_error = (
                f"the broker closed the connection before accepting it ({reason_code})"
            )
        was_connected = self.connected.is_set()
        self.connected.clear()
        if self.settings.forget_unacked_on_disconnect:
            _forget_unacknowledged(client)
        if was_connected and self._on_disconnected is not None:
            self._on_disconnected()

    def _handle_message(self, client, userdata, message) -> None:  # type: ignore[no-untyped-def]
        properties = message.properties
        response_topic = getattr(properties, "ResponseTopic", None)
        correlation = getattr(properties, "CorrelationData", None)
        content_type = getattr(properties, "ContentType", None)
        received = Message(
            message.topic,
            bytes(message.payload),
            bool(message.retain),
            response_topic if isinstance(response_topic, str) else None,
            bytes(correlation) if isinstance(correlation, bytes | bytearray) else None,
            content_type if isinstance(content_type, str) else None,
            message.mid,
            message.qos,
            self._connection,
        )
        try:
            self._on_message(received)
        except Exception:
            # One bad message must never kill paho's network thread, nor hold one of the
            # receive window's places for the rest of the connection.
            log.exception("handling a message on %s failed", message.topic)
            self.ack(received)

    def _handle_publish(self, client, userdata, mid, reason_code, properties) -> None:  # type: ignore[no-untyped-def]
        if self._on_published is None:
            return
        refusal = str(reason_code) if reason_code.is_failure else None
        self._on_published(mid, refusal)

    def _handle_subscribe(self, client, userdata, mid, reason_codes, properties) -> None:  # type: ignore[no-untyped-def]
        if self.retained_fetch is not None:
            self.retained_fetch.subscribed(client, mid, reason_codes)

    def _handle_unsubscribe(self, client, userdata, mid, reason_codes, properties) -> None:  # type: ignore[no-untyped-def]
        if self.retained_fetch is not None:
            self.retained_fetch.unsubscribed(mid)


class RetainedFetch:
    """Plain subscriptions made only to be sent the retained messages on their filters,
    once per broker session: subscribed on a connection that starts a session, and on
    this process's first (it cannot know what an earlier one fetched), and unsubscribed
    as soon as the broker acknowledges them.

    The broker queues every retained message in the session in answer to the SUBSCRIBE,
    before its SUBACK, and delivers them after the UNSUBSCRIBE as well, and after a
    reconnect that resumes the session: Mosquitto 2.0.11 delivered all of 3,000 to a
    client with a Receive Maximum of 256 that acknowledged none until after the
    UNSUBACK, and the rest of them after it dropped the connection and resumed the
    session. Runs on paho's network thread, like every callback."""

    def __init__(self, filters: list[tuple[str, int]]) -> None:
        self.filters = filters
        # The broker answered our SUBSCRIBE in the current session: the retained
        # messages are in its queue for us, whatever becomes of this connection.
        self._queued = False
        # Acknowledged but not yet ended: a connection that dropped between the two
        # left the subscription in the session, and it would deliver everything twice.
        self._subscribed = False
        self._subscribe_mid: int | None = None
        self._unsubscribe_mid: int | None = None

    @property
    def done(self) -> bool:
        """The broker holds the retained messages for us, and the subscription is over."""
        return self._queued and not self._subscribed

    def connected(self, client: paho.Client, session_present: bool) -> None:
        self._subscribe_mid = self._unsubscribe_mid = None
        if not session_present:
            self._queued = self._subscribed = False
        if not self._queued:
            result, mid = client.subscribe(self.filters)
            if result == paho.MQTT_ERR_SUCCESS:
                self._subscribe_mid = mid
        elif self._subscribed:
            self._unsubscribe(client)

    def subscribed(self, client: paho.Client, mid: int, reason_codes: list[ReasonCode]) -> None:
        if mid != self._subscribe_mid:
            return
        self._subscribe_mid = None
        refused = [str(code) for code in reason_codes if code.is_failure]
        if refused:
            log.warning("the broker refused a retained-message subscription: %s", refused)
        self._queued = self._subscribed = True
        self._unsubscribe(client)

    def unsubscribed(self, mid: int) -> None:
        if mid == self._unsubscribe_mid:
            self._unsubscribe_mid = None
            self._subscribed = False

    def _unsubscribe(self, client: paho.Client) -> None:
        result, mid = client.unsubscribe([topic for topic, _ in self.filters])
        if result == paho.MQTT_ERR_SUCCESS:
            self._unsubscribe_mid = mid


def _without_retained(qos: int) -> SubscribeOptions:
    return SubscribeOptions(qos=qos, retainHandling=SubscribeOptions.RETAIN_DO_NOT_SEND)


def _forget_unacknowledged(client: paho.Client) -> None:
    """Drop paho's in-memory copies of messages the broker has not acknowledged. paho has
    no public call for this; its outgoing queue is an OrderedDict under a re-entrant lock
    (paho-mqtt 2.1 and 2.2), so the callback thread may take it."""
    mutex = getattr(client, "_out_message_mutex", None)
    pending = getattr(client, "_out_messages", None)
    if mutex is None or not hasattr(pending, "clear"):
        # A paho that keeps them elsewhere: they are sent again, and the centre drops
        # the repeats by event id; only the oversized-message case needs the clearing.
        log.warning("cannot clear paho's unacknowledged messages in this paho version")
        return
    with mutex:
        pending.clear()
        client._inflight_messages = 0
