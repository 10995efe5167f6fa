"""The web front under a hostile client: slow sockets, oversize and chunked bodies, huge
URLs and headers, a screen for every stream: the till keeps answering throughout."""

from __future__ import annotations

import contextlib
import socket
import threading
import time
from pathlib import Path

import pytest
import requests
from flask import Flask

from tests.agent_process import AgentProcess
from tests.http_server import serving
from tests.till_fixtures import make_till

SLOW_SOCKETS = 16
SLOW_FOR_SECONDS = 60.0


@pytest.fixture
def till(seeded):
    t = make_till(seeded)
    t.token = t.sign_in()["token"]
    yield t
    t.close()


def _order_number(till) -> str:
    return till.one("SELECT number FROM orders ORDER BY id LIMIT 1")[0]


def _slowloris(host: str, port: int, until: float, body: bool, opened: list[int]) -> None:
    """Keep a request half-sent: a header line (or a body byte) every 2 s, reconnecting
    whenever the server hangs up, until `until`."""
    while time.monotonic() < until:
        try:
            with socket.create_connection((host, port), timeout=5) as sock:
                opened.append(1)
                head = b"POST /api/v1/auth/sign-in HTTP/1.1\r\nHost: x\r\n"
                if body:
                    head += b"Content-Type: application/json\r\nContent-Length: 100000\r\n\r\n"
                sock.sendall(head)
                while time.monotonic() < until:
                    time.sleep(2)
                    sock.sendall(b"{" if body else b"X-Slow: 1\r\n")
        except OSError:
            time.sleep(0.1)  # the server hung up on us: connect again, as an attacker would


def test_sixteen_slow_clients_for_a_minute_do_not_stop_the_till(till):
    number = _order_number(till)
    with serving(till.app, threads=8) as url:
        host, port = url.removeprefix("http://").split(":")
        until = time.monotonic() + SLOW_FOR_SECONDS
        opened: list[int] = []
        attackers = [
            threading.Thread(target=_slowloris, args=(host, int(port), until, i % 2 == 1, opened))
            for i in range(SLOW_SOCKETS)
        ]
        for t in attackers:
            t.start()
        answered = failed = 0
        with requests.Session() as http:
            http.headers["Authorization"] = f"Bearer {till.token}"
            while time.monotonic() < until:
                try:
                    order = http.get(f"{url}/api/v1/orders/{number}", timeout=5)
                    health = http.get(f"{url}/healthz", timeout=5)
                    ok = order.status_code == 200 and health.status_code == 200
                except requests.RequestException:
                    ok = False
                answered += ok
                failed += not ok
                time.sleep(0.2)
        for t in attackers:
            t.join(timeout=15)
    assert failed == 0, f"{failed} till requests failed while slow clients were connected"
    assert answered > 100
    # Every slow socket was dropped at its deadline and came back: the server hung up.
    assert len(opened) >= 2 * SLOW_SOCKETS


def test_sixteen_till_screens_leave_the_till_working(till):
    number = _order_number(till)
    with serving(till.app, threads=8) as url:
        streams = []
        try:
            for i in range(16):
                stream = requests.get(
                    f"{url}/api/v1/tills/lane-{i}/events",
                    headers={"Authorization": f"Bearer {till.token}"},
                    stream=True,
                    timeout=5,
                )
                assert stream.status_code == 200
                streams.append(stream)
            with requests.Session() as http:
                http.headers["Authorization"] = f"Bearer {till.token}"
                for _ in range(20):
                    assert http.get(f"{url}/api/v1/orders/{number}", timeout=5).status_code == 200
                one_more = http.get(f"{url}/api/v1/tills/lane-x/events", timeout=5)
                assert one_more.status_code == 503
                assert one_more.json()["error"]["code"] == "too_many_streams"
                # A screen that goes away frees its place within seconds.
                streams.pop().close()
                deadline = time.monotonic() + 10
                while time.monotonic() < deadline:
                    again = http.get(f"{url}/api/v1/tills/lane-y/events", stream=True, timeout=5)
                    if again.status_code == 200:
                        streams.append(again)
                        break
                    time.sleep(0.2)
                assert streams[-1].url.endswith("lane-y/events")
        finally:
            for stream in streams:
                stream.close()


def test_huge_url_and_header_are_refused(till):
    with serving(till.app) as url:
        long_url = requests.get(f"{url}/healthz?{'a' * 10_000_000}", timeout=30)
        assert long_url.status_code in (400, 414, 431)
        big_header = requests.get(f"{url}/healthz", headers={"X-Big": "a" * 10_000_000},
                                  timeout=30)  # fmt: skip
        assert big_header.status_code in (400, 431)
        twenty_k = requests.get(f"{url}/healthz?{'a' * 20_000}", timeout=5)
        assert twenty_k.status_code == 431
        assert twenty_k.json()["error"]["code"] == "headers_too_large"
        assert requests.get(f"{url}/healthz", timeout=5).status_code == 200


def test_one_client_cannot_take_every_request_thread():
    release = threading.Event()
    entered = threading.Semaphore(0)
    app = Flask(__name__)

    @app.get("/test-slow-work")
    def _slow_work():
        entered.release()
        release.wait(10)
        return "done"

    with serving(app, threads=4) as url:
        results: list[int] = []

        def call() -> None:
            results.append(requests.get(f"{url}/test-slow-work", timeout=15).status_code)

        callers = [threading.Thread(target=call) for _ in range(2)]  # threads - 2 = 2 allowed
        for t in callers:
            t.start()
        for _ in range(2):
            assert entered.acquire(timeout=10)
        refused = requests.get(f"{url}/test-slow-work", timeout=5)
        assert refused.status_code == 429
        assert refused.json()["error"]["code"] == "too_many_requests"
        release.set()
        for t in callers:
            t.join()
    assert results == [200, 200]


def _peak_rss_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1])
    raise AssertionError("no VmHWM")


def test_a_chunked_100_mb_body_is_refused_early_with_bounded_memory(tmp_path):
    agent = AgentProcess(
        "demo", "--data-dir", str(tmp_path / "demo"), "--port", "0", "--scanner-port", "0",
        "--customers", "20", "--orders", "50",
    ).wait_ready()  # fmt: skip
    try:
        requests.get(f"{agent.web_url}/healthz", timeout=5)
        before = _peak_rss_kib(agent.proc.pid)
        host, port = agent.web_url.removeprefix("http://").split(":")
        sent = 0
        chunk = b"a" * 65536
        with socket.create_connection((host, int(port)), timeout=10) as sock:
            sock.sendall(
                b"POST /api/v1/auth/sign-in HTTP/1.1\r\nHost: x\r\n"
                b"Content-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n"
            )
            sock.setblocking(False)
            answer = b""
            while sent < 100 * 1024 * 1024 and not answer:
                try:
                    sent += sock.send(b"%x\r\n%s\r\n" % (len(chunk), chunk))
                except BlockingIOError:
                    time.sleep(0.001)
                except (BrokenPipeError, ConnectionResetError):
                    break
                with contextlib.suppress(BlockingIOError):
                    answer = sock.recv(4096)
            sock.setblocking(True)
            answer = _whole_answer(sock, answer)
        assert answer.startswith(b"HTTP/1.1 413"), answer[:200]
        assert b'"body_too_large"' in answer
        assert sent < 10 * 1024 * 1024, f"{sent} bytes were taken before the refusal"
        assert _peak_rss_kib(agent.proc.pid) - before < 20 * 1024
        # And the agent still answers.
        assert requests.get(f"{agent.web_url}/healthz", timeout=5).status_code == 200
    finally:
        agent.terminate()


def test_a_declared_100_mb_body_is_refused_before_it_is_sent(till):
    with serving(till.app) as url:
        host, port = url.removeprefix("http://").split(":")
        with socket.create_connection((host, int(port)), timeout=10) as sock:
            sock.sendall(
                b"POST /api/v1/auth/sign-in HTTP/1.1\r\nHost: x\r\n"
                b"Content-Type: application/json\r\nContent-Length: 104857600\r\n\r\n"
            )
            answer = _whole_answer(sock, b"")  # not one byte of the body was sent
        assert answer.startswith(b"HTTP/1.1 413")
        assert b'"body_too_large"' in answer
        assert requests.get(f"{url}/healthz", timeout=5).status_code == 200


def _whole_answer(sock: socket.socket, start: bytes) -> bytes:
    """Read on until the answer's JSON body is in (it may come in a second packet)."""
    answer = start
    sock.settimeout(5)
    while b"}}" not in answer:
        try:
            more = sock.recv(4096)
        except (ConnectionResetError, TimeoutError):
            break
        if not more:
            break
        answer += more
    return answer
