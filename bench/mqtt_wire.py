"""A small MQTT 5 client on asyncio.Protocol, for the fleet benchmark's simulated stores.

Hand-written, against the house preference for a library, for one measured reason: CPU
per client. Thousands of simulated stores share the bench machine's two cores with the
broker, workers and PostgreSQL they measure. Through aiomqtt 2.5 (paho 2.2's sockets
driven from asyncio: a misc loop waking every second per client, connect() in a thread
pool, paho's packet objects) a store cost 2.2-2.4 ms of CPU at 500 stores (bench_fleet
--stores 500: 1.1-1.2 CPU-s for 497 simulated stores) and ~3.9 ms at 5,000 (README: 19.6 s,
more than both centre workers); through this client, 0.5-0.6 ms (0.25-0.30 CPU-s at
500, 1.14 CPU-s for 1,997 at 2,000).

It speaks what a simulated store needs: CONNECT (clean start, Session Expiry Interval,
keepalive, no credentials), CONNACK, SUBSCRIBE/SUBACK, PUBLISH at QoS 0 and 1 in both
directions (PUBACK sent for an incoming QoS 1), PINGREQ when idle, DISCONNECT. No QoS 2,
will, authentication or topic aliases; incoming properties are skipped. A PUBLISH that
never changes is encoded once (`encode_publish`) and goes out with only its packet id
filled in.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, cast

CONNECT, CONNACK, PUBLISH, PUBACK = 1, 2, 3, 4
SUBSCRIBE, SUBACK, PINGREQ, PINGRESP, DISCONNECT = 8, 9, 12, 13, 14
MAX_PACKET_ID = 65535
PROPERTY_CONTENT_TYPE = 0x03
PROPERTY_SESSION_EXPIRY = 0x11
CLEAN_START = 0x02
# Reason codes of 0x80 and above are failures (MQTT 5, 2.4); 0x10 "no matching
# subscribers" on a PUBACK is a success.
FAILURE = 0x80
CONNACK_REASONS = {
    0x80: "unspecified error",
    0x81: "malformed packet",
    0x82: "protocol error",
    0x84: "unsupported protocol version",
    0x85: "client identifier not valid",
    0x86: "bad user name or password",
    0x87: "not authorized",
    0x88: "server unavailable",
    0x89: "server busy",
    0x8A: "banned",
    0x95: "packet too large",
    0x97: "quota exceeded",
    0x9F: "connection rate exceeded",
}

MessageHandler = Callable[[str, bytes], None]


class MqttWireError(Exception):
    """The connection could not be made, was refused, or ended: the session is over."""


@dataclass(frozen=True, slots=True)
class Publication:
    """A PUBLISH packet encoded but for its packet id: it goes out as head, the packet id
    (QoS 1), properties, payload. The payload is kept as given, not copied: a fleet's
    batches are megabytes, built before a fork and shared with the parent."""

    head: bytes
    properties: bytes
    payload: bytes
    qos: int


def encode_publish(
    topic: str,
    payload: bytes,
    qos: int = 0,
    retain: bool = False,
    content_type: str | None = None,
) -> Publication:
    """Encode a PUBLISH once, to be sent any number of times."""
    if qos not in (0, 1):
        raise ValueError("QoS 0 or 1 only")
    listed = b"" if content_type is None else bytes([PROPERTY_CONTENT_TYPE]) + _string(content_type)
    properties = _varint(len(listed)) + listed
    topic_bytes = _string(topic)
    length = len(topic_bytes) + (2 if qos else 0) + len(properties) + len(payload)
    head = bytes([PUBLISH << 4 | qos << 1 | int(retain)]) + _varint(length) + topic_bytes
    return Publication(head, properties, payload, qos)


async def connect(
    host: str,
    port: int,
    client_id: str,
    on_message: MessageHandler,
    *,
    session_expiry: int,
    keepalive: int = 60,
    timeout: float = 30.0,
    handshakes: asyncio.Semaphore | None = None,
) -> MqttClient:
    """Open a connection with a clean start and wait for the broker's CONNACK; raises
    MqttWireError if it cannot connect, refuses, or does not answer within `timeout`.
    `on_message(topic, payload)` is called for each message received. `handshakes`,
    if given, is held until the CONNACK: a connection the broker has not yet taken
    waits in its listen backlog (Mosquitto's holds 100), and a connection attempt past
    that is dropped and tried again by TCP a second later."""
    loop = asyncio.get_running_loop()
    client = MqttClient(client_id, on_message, session_expiry, keepalive, timeout)
    try:
        async with handshakes or contextlib.nullcontext():
            deadline = loop.time() + timeout  # from our turn on, as a blocking connect()
            async with asyncio.timeout_at(deadline):
                await loop.create_connection(lambda: client, host, port)
                await client._connack
    except TimeoutError:  # before OSError, of which it is one
        client.close()
        raise MqttWireError(f"no CONNACK from {host}:{port} within {timeout:.0f}s") from None
    except OSError as exc:
        raise MqttWireError(f"cannot connect to {host}:{port}: {exc}") from exc
    except MqttWireError:
        client.close()
        raise
    return client


class PacketIds:
    """Packet identifiers for QoS 1 sends, 1..65535 in turn, never one still in flight;
    each maps to whatever waits for its answer."""

    def __init__(self) -> None:
        self._last = 0
        self._in_flight: dict[int, asyncio.Future[Any]] = {}  # oldest first

    def __len__(self) -> int:
        return len(self._in_flight)

    def take(self, waiter: asyncio.Future[Any]) -> int:
        if len(self._in_flight) >= MAX_PACKET_ID:
            raise MqttWireError("every packet id is in flight")
        packet_id = self._last % MAX_PACKET_ID + 1
        while packet_id in self._in_flight:
            packet_id = packet_id % MAX_PACKET_ID + 1
        self._last = packet_id
        self._in_flight[packet_id] = waiter
        return packet_id

    def release(self, packet_id: int) -> asyncio.Future[Any] | None:
        return self._in_flight.pop(packet_id, None)

    def oldest(self) -> asyncio.Future[Any] | None:
        return next(iter(self._in_flight.values()), None)

    def release_all(self) -> list[asyncio.Future[Any]]:
        waiters = list(self._in_flight.values())
        self._in_flight.clear()
        return waiters


class MqttClient(asyncio.Protocol):
    """One connection to the broker. Made by `connect()`; every wait on it raises
    MqttWireError once the connection ends other than by `disconnect()`."""

    def __init__(
        self,
        client_id: str,
        on_message: MessageHandler,
        session_expiry: int,
        keepalive: int,
        timeout: float,
    ) -> None:
        loop = asyncio.get_running_loop()
        self._loop = loop
        self._client_id = client_id
        self._on_message = on_message
        self._session_expiry = session_expiry
        self._keepalive = keepalive
        self._timeout = timeout
        self._transport: asyncio.Transport | None = None
        self._connack: asyncio.Future[None] = loop.create_future()
        # The outcome once the connection has ended: None after disconnect(), else why.
        self.closed: asyncio.Future[MqttWireError | None] = loop.create_future()
        self._ids = PacketIds()
        self._sent_at: dict[asyncio.Future[Any], float] = {}  # for the answer timeout
        self._buffer = bytearray()
        self._wanted = 2  # bytes the buffer must hold before a packet can be complete
        self._last_sent = 0.0
        self._ping_unanswered = False
        self._keepalive_timer: asyncio.TimerHandle | None = None
        self._answer_timer: asyncio.TimerHandle | None = None
        self._error: MqttWireError | None = None  # why we are closing it
        self._disconnecting = False

    # The API the session uses.

    def publish(self, publication: Publication) -> asyncio.Future[int]:
        """Send now. The future holds the PUBACK's reason code (at once for QoS 0); it
        fails if the connection ends or the broker does not answer within the timeout."""
        done = self._loop.create_future()
        head, properties, payload = publication.head, publication.properties, publication.payload
        if publication.qos == 0:
            self._write(b"".join((head, properties, payload)))
            done.set_result(0)
            return done
        packet_id = self._await_answer(done).to_bytes(2, "big")
        self._write(b"".join((head, packet_id, properties, payload)))
        return done

    async def subscribe(self, filters: Sequence[tuple[str, int]]) -> list[int]:
        """Subscribe to (filter, QoS) pairs; returns the SUBACK's reason codes, one per
        filter (the granted QoS, or a failure at 0x80 and above)."""
        return list(await self.send_subscribe(filters))

    def send_subscribe(self, filters: Sequence[tuple[str, int]]) -> asyncio.Future[bytes]:
        """Send a SUBSCRIBE now, as paho's subscribe() does, without waiting for its
        SUBACK: the future holds the SUBACK's reason codes."""
        done = self._loop.create_future()
        packet_id = self._await_answer(done)
        body = packet_id.to_bytes(2, "big") + b"\x00"  # no properties
        for topic_filter, qos in filters:
            body += _string(topic_filter) + bytes([qos])  # options: just the QoS
        self._write(_packet(SUBSCRIBE << 4 | 0x02, body))
        return done

    def raise_if_lost(self) -> None:
        """Raise MqttWireError if the connection has ended other than by disconnect()."""
        if self.closed.done() and (error := self.closed.result()) is not None:
            raise error

    async def disconnect(self) -> None:
        """Say goodbye (DISCONNECT, normal) unless the connection is already ending, and
        return once it is closed. Never raises."""
        if self._transport is None:
            return
        if not self._transport.is_closing():
            self._disconnecting = True
            self._write(bytes([DISCONNECT << 4, 0]))
            self._transport.close()
        await asyncio.shield(self.closed)

    def close(self) -> None:
        """Drop the connection at once (a failed connect)."""
        self._disconnecting = True
        if self._transport is not None:
            self._transport.abort()

    # asyncio.Protocol.

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # A stream transport (uvloop's does not subclass asyncio.Transport).
        self._transport = cast(asyncio.Transport, transport)
        properties = bytes([PROPERTY_SESSION_EXPIRY]) + self._session_expiry.to_bytes(4, "big")
        body = (
            _string("MQTT")
            + bytes([5, CLEAN_START])
            + self._keepalive.to_bytes(2, "big")
            + _varint(len(properties))
            + properties
            + _string(self._client_id)
        )
        self._write(_packet(CONNECT << 4, body))
        if self._keepalive:
            self._keepalive_timer = self._loop.call_later(self._keepalive, self._check_keepalive)

    def data_received(self, data: bytes) -> None:
        buffer = self._buffer
        buffer += data
        if len(buffer) < self._wanted:
            return  # the rest of a long packet is still on its way
        start = 0
        try:
            while (bounds := _packet_bounds(buffer, start)) is not None:
                body_start, end = bounds
                if end > len(buffer):
                    break
                self._handle(buffer[start] >> 4, buffer[start] & 0x0F, buffer[body_start:end])
                start = end
        except MqttWireError as exc:
            self._fail(exc)
            return
        del buffer[:start]
        # Until the buffer holds this much, no packet in it can be complete.
        self._wanted = bounds[1] - start if bounds is not None else len(buffer) + 1

    def connection_lost(self, exc: Exception | None) -> None:
        for timer in (self._keepalive_timer, self._answer_timer):
            if timer is not None:
                timer.cancel()
        error = self._error
        if error is None and not self._disconnecting:
            reason = f": {exc}" if exc else ""
            error = MqttWireError(f"the connection to the broker was lost{reason}")
        waiting = [self._connack, *self._ids.release_all()]
        self._sent_at.clear()
        for waiter in waiting:
            if not waiter.done():
                waiter.set_exception(error or MqttWireError("disconnected"))
                # Read here so that a waiter its caller gave up on (the session ended
                # on another one) is not logged as an exception nobody retrieved.
                waiter.exception()
        self.closed.set_result(error)

    # Helpers.

    def _handle(self, kind: int, flags: int, body: bytearray) -> None:
        if kind == PUBLISH:
            self._received_publish(flags, bytes(body))
        elif kind == PUBACK:
            self._answered(int.from_bytes(body[0:2], "big"), body[2] if len(body) > 2 else 0)
        elif kind == SUBACK:
            length, position = _read_varint(body, 2) or (0, len(body))  # properties
            self._answered(int.from_bytes(body[0:2], "big"), bytes(body[position + length :]))
        elif kind == CONNACK:
            self._connacked(body)
        elif kind == PINGRESP:
            self._ping_unanswered = False
        elif kind == DISCONNECT:
            reason = body[0] if body else 0
            raise MqttWireError(f"the broker disconnected us (reason 0x{reason:02x})")
        else:
            raise MqttWireError(f"unexpected packet type {kind} from the broker")

    def _connacked(self, body: bytearray) -> None:
        if len(body) < 2:
            raise MqttWireError("malformed CONNACK")
        reason = body[1]
        if reason >= FAILURE:
            why = CONNACK_REASONS.get(reason, "refused")
            raise MqttWireError(f"the broker refused the connection: {why} (0x{reason:02x})")
        if not self._connack.done():
            self._connack.set_result(None)

    def _received_publish(self, flags: int, body: bytes) -> None:
        qos = flags >> 1 & 0x03
        topic_end = 2 + int.from_bytes(body[0:2], "big")
        topic = body[2:topic_end].decode()
        position = topic_end
        if qos:
            packet_id = body[position : position + 2]
            position += 2
        length, position = _read_varint(body, position) or (0, len(body))
        payload = body[position + length :]
        if qos == 1:
            self._write(bytes([PUBACK << 4, 2]) + packet_id)
        elif qos:
            raise MqttWireError("QoS 2 is not supported")
        try:
            self._on_message(topic, payload)
        except Exception as exc:
            raise MqttWireError(f"handling a message on {topic} failed: {exc!r}") from exc

    def _await_answer(self, waiter: asyncio.Future[Any]) -> int:
        packet_id = self._ids.take(waiter)
        self._sent_at[waiter] = self._loop.time()
        if self._answer_timer is None:
            self._answer_timer = self._loop.call_later(self._timeout, self._check_answers)
        return packet_id

    def _answered(self, packet_id: int, answer: int | bytes) -> None:
        waiter = self._ids.release(packet_id)
        if waiter is None:
            return  # answered after a timeout gave up on it
        self._sent_at.pop(waiter, None)
        if not waiter.done():
            waiter.set_result(answer)

    def _check_answers(self) -> None:
        """One timer per connection instead of one per packet: the oldest unanswered
        packet must have been answered within the timeout."""
        self._answer_timer = None
        oldest = self._ids.oldest()
        if oldest is None:
            return
        waited = self._loop.time() - self._sent_at[oldest]
        if waited >= self._timeout:
            self._fail(MqttWireError(f"no answer from the broker within {self._timeout:.0f}s"))
            return
        self._answer_timer = self._loop.call_later(self._timeout - waited, self._check_answers)

    def _check_keepalive(self) -> None:
        if self._transport is None or self._transport.is_closing():
            return  # connection_lost is on its way
        if self._ping_unanswered:
            self._fail(MqttWireError(f"no PINGRESP within {self._keepalive}s"))
            return
        idle = self._loop.time() - self._last_sent
        if idle >= self._keepalive:
            self._write(bytes([PINGREQ << 4, 0]))
            self._ping_unanswered = True
            idle = 0.0
        self._keepalive_timer = self._loop.call_later(self._keepalive - idle, self._check_keepalive)

    def _write(self, packet: bytes) -> None:
        if self._transport is None or self._transport.is_closing():
            raise MqttWireError("the connection to the broker is closed")
        self._transport.write(packet)
        self._last_sent = self._loop.time()

    def _fail(self, error: MqttWireError) -> None:
        """End the connection for `error`, which every waiter then raises."""
        if self._error is None:
            self._error = error
        if self._transport is not None and not self._transport.is_closing():
            self._transport.write(bytes([DISCONNECT << 4, 0]))
            self._transport.close()


def _packet(first: int, body: bytes) -> bytes:
    return bytes([first]) + _varint(len(body)) + body


def _string(text: str) -> bytes:
    data = text.encode()
    return len(data).to_bytes(2, "big") + data


def _varint(value: int) -> bytes:
    """MQTT's variable byte integer: 7 bits a byte, least significant first."""
    out = bytearray()
    while True:
        value, byte = divmod(value, 128)
        out.append(byte | 0x80 if value else byte)
        if not value:
            return bytes(out)


def _read_varint(data: bytes | bytearray, position: int) -> tuple[int, int] | None:
    """(value, position after it), or None if `data` ends inside it."""
    value = 0
    for shift in range(0, 28, 7):
        if position >= len(data):
            return None
        byte = data[position]
        position += 1
        value |= (byte & 0x7F) << shift
        if byte < 0x80:
            return value, position
    raise MqttWireError("malformed variable byte integer")


def _packet_bounds(data: bytearray, start: int) -> tuple[int, int] | None:
    """Where the body of the packet at `start` begins and the packet ends, or None if
    its fixed header is not complete yet."""
    length = _read_varint(data, start + 1)
    if length is None:
        return None
    return length[1], length[1] + length[0]
