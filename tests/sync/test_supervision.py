"""A worker's parts: when one thread's death takes another with it, the first to die is
the one reported (the operator's starting point)."""

from __future__ import annotations

import threading

from sync.central.supervision import Part, Parts, log_thread_deaths


def test_the_first_part_to_die_is_named_when_several_have():
    log_thread_deaths()
    network_died = threading.Event()

    def network() -> None:
        raise RuntimeError("the network thread's own bug")

    def ingest() -> None:
        network_died.wait(5)
        raise RuntimeError("taken down with it")

    # The ingest part comes first in the worker's order, but died second.
    parts = Parts(Part("ingest"), Part("broker", beats=False))
    broker_thread = threading.Thread(target=network, name="network")
    ingest_thread = threading.Thread(target=ingest, name="ingest")
    parts.watch("broker", broker_thread)
    parts.watch("ingest", ingest_thread)
    ingest_thread.start()
    broker_thread.start()
    broker_thread.join(5)
    network_died.set()
    ingest_thread.join(5)
    assert parts.dead() == "the broker thread stopped"
    parts.stopping = True
    assert parts.dead() is None


def test_with_one_dead_part_it_is_named():
    parts = Parts(Part("ingest"), Part("lookups"))
    alive = threading.Event()
    running = threading.Thread(target=alive.wait, args=(5,))
    ended = threading.Thread(target=lambda: None)
    parts.watch("ingest", running)
    parts.watch("lookups", ended)
    running.start()
    ended.start()
    ended.join(5)
    try:
        assert parts.dead() == "the lookups thread stopped"
    finally:
        alive.set()
        running.join(5)


def test_a_worker_leaving_after_a_death_gets_out_even_if_the_link_fails_to_close(tmp_path):
    from sync.central.service import CentralService

    # Never started: only its way out is under test. With paho's network thread dead,
    # closing the link runs paho's callbacks in this thread, and they may fail again.
    service = CentralService("mqtt://127.0.0.1:1", f"sqlite://{tmp_path / 'c.sqlite3'}")

    def failing_stop(**_: object) -> None:
        raise RuntimeError("the fault that killed paho's thread, again")

    service.link.stop = failing_stop  # type: ignore[method-assign]
    service.abort()
    assert service.parts.stopping and service.parts.dead() is None
