"""bench.mqtt_wire, the simulated stores' MQTT 5 client: against a real Mosquitto running
the shipped configuration with Mosquitto's own command-line clients on the other end,
and, for how packets are cut into reads, against bytes fed to it directly."""

from __future__ import annotations

import asyncio
import os
import subprocess
import uuid
from collections.abc import Callable
from pathlib import Path

import pytest

from bench.mqtt_wire import (
    MAX_PACKET_ID,
    MqttClient,
    MqttWireError,
    PacketIds,
    connect,
    encode_publish,
)
from tests.sync.conftest import Broker

BIG = 200 * 1024  # several reads on a loopback socket


class Inbox:
    """What a client received, in order, and a way to wait for it."""

    def __init__(self) -> None:
        self.messages: list[tuple[str, bytes]] = []
        self._arrived = asyncio.Event()

    def __call__(self, topic: str, payload: bytes) -> None:
        self.messages.append((topic, payload))
        self._arrived.set()

    async def wait_for(self, count: int) -> list[tuple[str, bytes]]:
        async with asyncio.timeout(20):
            while len(self.messages) < count:
                self._arrived.clear()
                await self._arrived.wait()
        return self.messages


async def open_client(
    broker: Broker,
    on_message: Callable[[str, bytes], None],
    client_id: str | None = None,
    keepalive: int = 60,
) -> MqttClient:
    if client_id is None:
        client_id = f"wire-{uuid.uuid4().hex[:8]}"
    return await connect(
        "127.0.0.1", broker.port, client_id, on_message, session_expiry=60, keepalive=keepalive
    )


def mosquitto_pub(broker: Broker, topic: str, *args: str) -> None:
    subprocess.run(
        ["mosquitto_pub", "-i", f"pub-{uuid.uuid4().hex[:8]}", "-h", "127.0.0.1",
         "-p", str(broker.port), "-V", "5", "-t", topic, *args],
        check=True, timeout=20,
    )  # fmt: skip


def mosquitto_sub_once(broker: Broker, topic: str, fmt: str) -> str:
    """What `fmt` prints for the first message on `topic` (a retained one, here)."""
    return subprocess.run(
        ["mosquitto_sub", "-i", f"sub-{uuid.uuid4().hex[:8]}", "-h", "127.0.0.1",
         "-p", str(broker.port), "-V", "5", "-q", "1", "-t", topic, "-C", "1", "-W", "10",
         "-F", fmt],
        check=True, timeout=20, capture_output=True, text=True,
    ).stdout  # fmt: skip


def test_publishes_at_qos1_with_retain_and_content_type_and_gets_the_puback(broker):
    async def scenario() -> tuple[list[int], int]:
        client = await open_client(broker, Inbox())
        codes = await client.subscribe([("wire/zero", 0), ("wire/one", 1)])
        publication = encode_publish(
            "wire/kept", b'["batch"]', qos=1, retain=True, content_type="application/x-test"
        )
        reason = await client.publish(publication)
        await client.disconnect()
        return codes, reason

    codes, reason = asyncio.run(scenario())
    assert codes == [0, 1]  # the QoS granted per filter
    assert reason in (0x00, 0x10)  # success, or success with no subscriber yet
    # The broker kept it (retain flag) with its Content Type property, byte for byte.
    assert mosquitto_sub_once(broker, "wire/kept", "%r %q %C %p") == (
        '1 1 application/x-test ["batch"]\n'
    )


def test_receives_qos0_and_qos1_messages_and_acknowledges_each_qos1(broker_factory):
    # The broker sends a client one unacknowledged QoS 1 message at a time: without
    # our PUBACK for the first, the second and third would never come.
    broker = broker_factory("max_inflight_messages 1\n")

    async def scenario() -> list[tuple[str, bytes]]:
        inbox = Inbox()
        client = await open_client(broker, inbox)
        await client.subscribe([("wire/#", 1)])
        await asyncio.to_thread(mosquitto_pub, broker, "wire/zero", "-q", "0", "-m", "nought")
        for word in ("one", "two", "three"):
            await asyncio.to_thread(mosquitto_pub, broker, "wire/one", "-q", "1", "-m", word)
        messages = await inbox.wait_for(4)
        await client.disconnect()
        return messages

    assert asyncio.run(scenario()) == [
        ("wire/zero", b"nought"),
        ("wire/one", b"one"),
        ("wire/one", b"two"),
        ("wire/one", b"three"),
    ]


def test_a_message_larger_than_one_read_arrives_whole(broker, tmp_path: Path):
    theirs = os.urandom(BIG)
    ours = os.urandom(BIG)
    (tmp_path / "big").write_bytes(theirs)

    async def scenario() -> list[tuple[str, bytes]]:
        inbox = Inbox()
        client = await open_client(broker, inbox)
        await client.subscribe([("wire/big/#", 1)])
        file = str(tmp_path / "big")
        await asyncio.to_thread(mosquitto_pub, broker, "wire/big/theirs", "-q", "1", "-f", file)
        await client.publish(encode_publish("wire/big/ours", ours, qos=1))
        messages = await inbox.wait_for(2)
        await client.disconnect()
        return messages

    assert asyncio.run(scenario()) == [("wire/big/theirs", theirs), ("wire/big/ours", ours)]


def test_an_idle_client_pings_and_stays_connected(broker):
    # Mosquitto drops a client it has heard nothing from for 1.5 keepalives.
    async def scenario() -> int:
        client = await open_client(broker, Inbox(), keepalive=1)
        await asyncio.sleep(3.5)
        client.raise_if_lost()
        reason = await client.publish(encode_publish("wire/still", b"here", qos=1))
        await client.disconnect()
        return reason

    assert asyncio.run(scenario()) in (0x00, 0x10)


def test_the_broker_going_away_ends_the_session_with_the_error(broker):
    async def scenario() -> tuple[MqttWireError | None, str, str]:
        client = await open_client(broker, Inbox())
        broker.kill()
        async with asyncio.timeout(10):
            ended = await client.closed
        with pytest.raises(MqttWireError) as lost:
            client.raise_if_lost()
        with pytest.raises(MqttWireError) as publishing:
            await client.publish(encode_publish("wire/gone", b"x", qos=1))
        await client.disconnect()  # after the fact: a no-op, no error
        with pytest.raises(MqttWireError) as reconnecting:
            await open_client(broker, Inbox())
        return ended, str(lost.value), f"{publishing.value} / {reconnecting.value}"

    ended, lost, later = asyncio.run(scenario())
    assert isinstance(ended, MqttWireError)
    assert "lost" in lost
    assert "closed" in later and "cannot connect" in later


def test_a_refused_connection_raises_with_the_reason(broker_factory):
    async def scenario(broker: Broker, client_id: str) -> None:
        await open_client(broker, Inbox(), client_id=client_id)

    # The shipped config refuses an empty client id; Mosquitto 2.0 gives no reason.
    with pytest.raises(MqttWireError, match=r"refused the connection: .*\(0x80\)"):
        asyncio.run(scenario(broker_factory(), ""))
    closed = broker_factory("allow_anonymous false\n", name="closed")
    with pytest.raises(MqttWireError, match=r"refused the connection: not authorized \(0x87\)"):
        asyncio.run(scenario(closed, "wire-anonymous"))


def test_packet_ids_wrap_past_65535_and_skip_those_in_flight():
    ids = PacketIds()
    waiter = object()
    assert [ids.take(waiter) for _ in range(3)] == [1, 2, 3]  # type: ignore[arg-type]
    ids.release(2)
    for _ in range(4, MAX_PACKET_ID + 1):
        ids.release(ids.take(waiter))  # type: ignore[arg-type]
    # 1 and 3 are still in flight: after 65535 come 2 and 4.
    assert ids.take(waiter) == 2  # type: ignore[arg-type]
    assert ids.take(waiter) == 4  # type: ignore[arg-type]
    for _ in range(MAX_PACKET_ID - 4):
        ids.take(waiter)  # type: ignore[arg-type]
    assert len(ids) == MAX_PACKET_ID
    with pytest.raises(MqttWireError, match="every packet id"):
        ids.take(waiter)  # type: ignore[arg-type]


class FakeTransport(asyncio.Transport):
    """Collects what the client writes."""

    def __init__(self) -> None:
        super().__init__()
        self.written = bytearray()
        self.closing = False

    def write(self, data: bytes) -> None:
        self.written += data

    def is_closing(self) -> bool:
        return self.closing

    def close(self) -> None:
        self.closing = True

    abort = close


def incoming_publish(topic: str, payload: bytes, packet_id: int | None) -> bytes:
    """A PUBLISH as the broker sends it, with a property the client must skip."""
    properties = b"\x01\x01"  # Payload Format Indicator: UTF-8
    body = len(topic).to_bytes(2, "big") + topic.encode()
    if packet_id is not None:
        body += packet_id.to_bytes(2, "big")
    body += bytes([len(properties)]) + properties + payload
    qos = 0 if packet_id is None else 1
    return bytes([0x30 | qos << 1]) + encode_length(len(body)) + body


def encode_length(value: int) -> bytes:
    out = bytearray()
    while True:
        value, byte = divmod(value, 128)
        out.append(byte | (0x80 if value else 0))
        if not value:
            return bytes(out)


@pytest.mark.parametrize("piece", [1, 7, 10_000_000], ids=["byte by byte", "in 7s", "at once"])
def test_packets_split_across_reads_or_sharing_one_are_each_handled_whole(piece: int):
    big = os.urandom(300)  # a remaining length of two bytes
    stream = (
        b"\x20\x03\x00\x00\x00"  # CONNACK: accepted, no properties
        + incoming_publish("a/zero", b"first", None)
        + incoming_publish("a/one", big, 0x0102)
        + b"\xd0\x00"  # PINGRESP
        + incoming_publish("a/zero", b"", None)
    )

    async def scenario() -> tuple[list[tuple[str, bytes]], bytes, bool]:
        inbox = Inbox()
        client = MqttClient("c", inbox, session_expiry=60, keepalive=0, timeout=5)
        transport = FakeTransport()
        client.connection_made(transport)
        transport.written.clear()  # the CONNECT
        for start in range(0, len(stream), piece):
            client.data_received(stream[start : start + piece])
        return inbox.messages, bytes(transport.written), transport.closing

    messages, written, closed = asyncio.run(scenario())
    assert not closed
    assert messages == [("a/zero", b"first"), ("a/one", big), ("a/zero", b"")]
    assert written == b"\x40\x02\x01\x02"  # the PUBACK for the QoS 1 message, only
