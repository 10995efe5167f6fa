"""A fleet-wide reconnect: S stores, each with a backlog, reconnect at the same instant
through one Mosquitto (the shipped systemd/mosquitto-edge-central.conf) into two
`edge-central run` workers on PostgreSQL.

Most stores are simulated (bench/fleet_stores.py: the agent's own envelopes, batches,
ack reading and resend policy, thousands in one asyncio process); a few are real agents,
each in its own process (bench/fleet_agent.py). Reported per S: events/s until every
store is fully acked, p50/p99 time for a store to be fully acked, the share of events
sent more than once, the workers' and broker's peak RSS. References in the same run:
the same messages through `mosquitto_pub -l` into a bare `mosquitto_sub` on the same
broker, and the same rows written by PostgreSQL `COPY` into a table shaped as `events`
(same indexes, same monthly partitions). Targets: fleet ingest >= 0.5 of the slower
reference, no event resent, p99 store-complete <= 3 x p50.

Run: `.venv/bin/python -m bench.bench_fleet [--stores 500,5000] [--events 100]`
(`--quick`: 100 stores). Each fleet run is bounded by --timeout.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import resource
import select
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from dataclasses import dataclass
from pathlib import Path

import psycopg
import uvloop

from bench.bench_sync import BROKER_CONF, MOSQUITTO, POSTGRES_ADMIN, wait
from bench.fleet_stores import SimStore, make_store, run_fleet
from bench.ports import free_server_port
from bench.stats import percentile

EDGE_CENTRAL = str(Path(sys.executable).with_name("edge-central"))
WORKERS = 2
REAL_AGENTS = 3
TARGET_RATIO = 0.5
TARGET_TAIL = 3.0
COPY_RUNS = 3
# A 500-store run lasts about a second: one alone swung from 0.41 to 0.62 of COPY on this
# machine. Each round's fleet run is paired with COPY runs right after it, so a drift in
# the machine's speed moves both, and the median round counts.
ROUNDS = 3


@dataclass
class FleetRun:
    stores: int
    events: int
    seconds: float  # until the last store was fully acked (or the timeout)
    complete: int  # stores fully acked
    store_seconds: list[float]
    resent: int
    replay_answered: int
    worker_rss_mib: list[float]
    broker_rss_mib: float
    payloads: list[bytes]
    worker_inserted: int
    connected: list[float]  # seconds from the start to each simulated store's CONNACK
    cpu: dict[str, float]  # CPU seconds used during the run, by process


@dataclass
class CopyRates:
    # Rows/s, each the median of COPY_RUNS binary COPYs (the workers' format).
    partitioned: float  # into a table shaped as `events`, partitions included: the reference
    unpartitioned: float  # into one table with its columns and indexes: earlier rounds' one


@dataclass
class Round:
    run: FleetRun
    copy: CopyRates

    def rate(self) -> float:
        """Events/s until every store was fully acked."""
        return self.run.complete * (self.run.events / self.run.stores) / self.run.seconds

    def ratio(self, mqtt_rate: float) -> float:
        return self.rate() / min(mqtt_rate, self.copy.partitioned)

    def tail(self) -> tuple[float, float]:
        """p50 and p99 of the time for a store to be fully acked."""
        if not self.run.store_seconds:
            return float("nan"), float("nan")
        return percentile(self.run.store_seconds, 50), percentile(self.run.store_seconds, 99)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--stores", default="500,5000", help="fleet sizes, comma-separated")
    parser.add_argument("--events", type=int, default=100, help="backlog per store")
    parser.add_argument("--agents", type=int, default=REAL_AGENTS, help="real agents among them")
    parser.add_argument("--timeout", type=float, default=900, help="seconds per fleet run")
    parser.add_argument(
        "--sim-processes", type=int, default=os.cpu_count() or 1,
        help="processes the simulated stores run in",
    )  # fmt: skip
    parser.add_argument(
        "--rounds", type=int, default=ROUNDS,
        help="fleet runs per size, each followed by its COPY references; the median counts",
    )  # fmt: skip
    parser.add_argument("--quick", action="store_true", help="100 stores")
    parser.add_argument("--keep", action="store_true", help="keep the logs' directory")
    args = parser.parse_args()
    sizes = [100] if args.quick else [int(s) for s in args.stores.split(",")]
    raise_file_limit(max(sizes))
    for size in sizes:
        if args.keep:
            tmp = tempfile.mkdtemp(prefix="bench-fleet-")
            print(f"  (logs in {tmp})")
            bench_fleet(
                Path(tmp), size, args.events, min(args.agents, size), args.timeout,
                args.sim_processes, args.rounds, True,
            )  # fmt: skip
            continue
        with tempfile.TemporaryDirectory(prefix="bench-fleet-") as tmp:
            bench_fleet(
                Path(tmp), size, args.events, min(args.agents, size), args.timeout,
                args.sim_processes, args.rounds,
            )  # fmt: skip


def bench_fleet(
    work: Path,
    stores: int,
    events: int,
    agents: int,
    timeout: float,
    sim_processes: int,
    rounds: int,
    keep: bool = False,
) -> None:
    print(
        f"fleet reconnect: {stores} stores ({agents} real agents, the rest simulated in"
        f" {sim_processes} processes) x {events} events, 1 Mosquitto (shipped config),"
        f" {WORKERS} edge-central workers, PostgreSQL; {rounds} rounds"
    )
    measured: list[Round] = []
    mqtt_rate = float("nan")
    for n in range(rounds):
        # Each round on its own broker and database: nothing retained or stored by one
        # round reaches the next.
        directory = work / f"round-{n + 1}"
        port, broker = start_broker(directory / "broker")
        db_url = create_database()
        try:
            run = fleet_run(
                directory, port, broker.pid, db_url, stores, events, agents, timeout,
                sim_processes,
            )  # fmt: skip
            run.broker_rss_mib = peak_rss_mib(broker.pid)
            if n == 0:  # the broker's own rate does not drift with the database's
                mqtt_rate = reference_mosquitto(directory, port, run.payloads, events)
            copy = reference_copy(db_url)
        finally:
            broker.kill()
            broker.wait()
            if keep:
                print(f"  (database kept: {db_url})")
            else:
                drop_database(db_url)
        measured.append(Round(run, copy))
        show_round(n + 1, measured[-1], mqtt_rate)
    report(measured, mqtt_rate)


def fleet_run(
    work: Path,
    port: int,
    broker_pid: int,
    db_url: str,
    stores: int,
    events: int,
    agents: int,
    timeout: float,
    sim_processes: int,
) -> FleetRun:
    broker_url = f"mqtt://127.0.0.1:{port}"
    workers: list[subprocess.Popen[str]] = []
    real: list[subprocess.Popen[str]] = []
    try:
        # Started inside the try: a worker or agent that fails to start must not leave
        # the others running after the benchmark has gone.
        for n in range(WORKERS):
            workers.append(start_worker(work, broker_url, db_url, n))
        for n in range(agents):
            real.append(start_agent(work, broker_url, f"agent-{n:02d}", events))
        built = time.perf_counter()
        sims = [make_store(f"sim-{n:05d}", events, seed=n) for n in range(stores - agents)]
        print(
            f"  ({len(sims) * events} simulated events built in {time.perf_counter() - built:.1f}s)"
        )
        payloads = [batch.payload for sim in sims for batch in sim.batches]
        checkpoint(db_url)  # before anything writes, as before each COPY reference
        agents_cpu_before = sum(cpu_seconds(agent.pid) for agent in real)
        for agent in real:
            assert agent.stdin is not None
            agent.stdin.write("go\n")
            agent.stdin.flush()
        cpu_before = {f"worker {n}": cpu_seconds(w.pid) for n, w in enumerate(workers)}
        cpu_before["broker"] = cpu_seconds(broker_pid)
        cpu_before["PostgreSQL"] = postgres_cpu_seconds()
        started = time.monotonic()
        sims, sim_cpu = run_split_fleet(port, sims, timeout, sim_processes)
        (work / "stores.json").write_text(
            json.dumps(
                {s.store_id: [s.first_ack_after, s.done_after, s.resent, s.errors] for s in sims}
            )
        )
        agent_results = [agent_done(agent, started + timeout) for agent in real]
        cpu = {
            "simulated stores": sim_cpu,
            "real agents": sum(cpu_seconds(agent.pid) for agent in real) - agents_cpu_before,
            **{
                f"worker {n}": cpu_seconds(w.pid) - cpu_before[f"worker {n}"]
                for n, w in enumerate(workers)
            },
            "broker": cpu_seconds(broker_pid) - cpu_before["broker"],
            "PostgreSQL": postgres_cpu_seconds() - cpu_before["PostgreSQL"],
        }
        worker_rss = [peak_rss_mib(w.pid) for w in workers]
        inserted = count_events(db_url)
    finally:
        for agent in real:
            stop(agent)
        for worker in workers:
            stop(worker)
    store_seconds = [s.done_after for s in sims if s.done_after is not None]
    store_seconds += [r[0] for r in agent_results if r is not None]
    resent = sum(s.resent for s in sims) + sum(r[1] for r in agent_results if r is not None)
    return FleetRun(
        stores=stores,
        events=stores * events,
        seconds=max(store_seconds) if len(store_seconds) == stores else timeout,
        complete=len(store_seconds),
        store_seconds=store_seconds,
        resent=resent,
        replay_answered=sum(1 for s in sims if s.feed_answered),
        worker_rss_mib=worker_rss,
        broker_rss_mib=float("nan"),
        payloads=payloads,
        worker_inserted=inserted,
        connected=[s.connected_after for s in sims if s.connected_after is not None],
        cpu=cpu,
    )


def run_split_fleet(
    port: int, sims: list[SimStore], timeout: float, processes: int
) -> tuple[list[SimStore], float]:
    """Run the simulated stores in `processes` processes starting at one instant (one
    asyncio process used a single core while the workers waited for its first
    publishes); returns the stores as they ended and the CPU seconds they used."""
    context = multiprocessing.get_context("fork")
    start_at = time.monotonic() + 0.5
    results = context.Queue()
    groups = [sims[n::processes] for n in range(processes)]
    children = [
        context.Process(
            target=_run_group, args=(port, group, timeout, start_at, n, results), daemon=True
        )
        for n, group in enumerate(groups)
    ]
    for child in children:
        child.start()
    ended: list[SimStore] = []
    cpu = 0.0
    try:
        for _ in children:
            stores, seconds = results.get(timeout=timeout + 120)
            ended += stores
            cpu += seconds
    finally:
        for child in children:
            child.join(timeout=30)
            if child.is_alive():
                child.kill()
    return ended, cpu


def _run_group(
    port: int, group: list[SimStore], timeout: float, start_at: float, n: int, results
) -> None:
    before = resource.getrusage(resource.RUSAGE_SELF)
    progress = show_progress if n == 0 else None
    # uvloop: libuv's event loop, for the harness's CPU (the simulated stores share the
    # cores with what they measure).
    uvloop.run(run_fleet("127.0.0.1", port, group, timeout, progress, start_at))
    after = resource.getrusage(resource.RUSAGE_SELF)
    seconds = after.ru_utime - before.ru_utime + after.ru_stime - before.ru_stime
    for store in group:
        store.rows, store.batches = [], []  # not needed back; the rest is small
    results.put((group, seconds))


def show_progress(elapsed: float, sims: list[SimStore]) -> None:
    acked = sum(len(s.acked) for s in sims)
    done = sum(1 for s in sims if s.done_after is not None)
    answered = sum(1 for s in sims if s.feed_answered)
    resent = sum(s.resent for s in sims)
    print(
        f"  ... {elapsed:4.0f}s (one process's share): {done}/{len(sims)} simulated stores"
        " fully acked,"
        f" {acked} events acked, {resent} resent, {answered} replays answered",
        flush=True,
    )


def show_round(n: int, measured: Round, mqtt_rate: float) -> None:
    run, copy = measured.run, measured.copy
    p50, p99 = measured.tail()
    print(
        f"  round {n}: {run.complete}/{run.stores} stores acked in {run.seconds:.2f}s,"
        f" {measured.rate():.0f} ev/s; COPY {copy.partitioned:.0f} (partitioned as events),"
        f" {copy.unpartitioned:.0f} (unpartitioned); ratio {measured.ratio(mqtt_rate):.2f}"
        f" ({measured.rate() / min(mqtt_rate, copy.unpartitioned):.2f} against unpartitioned);"
        f" p50 {p50:.2f}s p99 {p99:.2f}s; resent {run.resent};"
        f" CPU {sum(run.cpu.values()):.2f}s ({busy_share(run):.0%} of the cores),"
        f" {1e6 * sum(run.cpu.values()) / max(1, run.worker_inserted):.0f} us/event",
        flush=True,
    )


def busy_share(run: FleetRun) -> float:
    """How much of the machine's cores the measured processes used during the run."""
    return sum(run.cpu.values()) / (run.seconds * (os.cpu_count() or 1))


def report(rounds: list[Round], mqtt_rate: float) -> None:
    ratios = [r.ratio(mqtt_rate) for r in rounds]
    middle = sorted(rounds, key=lambda r: r.ratio(mqtt_rate))[len(rounds) // 2]
    run = middle.run
    ratio = statistics.median(ratios)
    tails = [p99 / p50 for p50, p99 in (r.tail() for r in rounds)]
    resent = sum(r.run.resent for r in rounds)
    sent = sum(r.run.events for r in rounds)
    print(f"  median round ({len(rounds)}):")
    print(f"  stores fully acked          {run.complete}/{run.stores} in {run.seconds:.2f}s")
    print(f"  events in the centre        {run.worker_inserted}/{run.events}")
    print(f"  fleet ingest                {middle.rate():>10.0f} ev/s")
    print(f"  reference mosquitto_pub->sub{mqtt_rate:>10.0f} ev/s (same messages, bare subscriber)")
    print(
        f"  reference PostgreSQL COPY   {middle.copy.partitioned:>10.0f} ev/s (same rows,"
        f" binary as the workers write, into a table shaped as events: same indexes, same"
        f" monthly partitions; median of {COPY_RUNS}); into one unpartitioned table"
        f" {middle.copy.unpartitioned:.0f}"
    )
    print(
        f"  ratio to the slower reference {ratio:.2f}, median of"
        f" {', '.join(f'{r:.2f}' for r in ratios)} (target >= {TARGET_RATIO})"
        f" {'ok' if ratio >= TARGET_RATIO else 'MISSED'}"
    )
    print(
        f"  store fully acked p99/p50   worst round {max(tails):.2f} (target <= {TARGET_TAIL})"
        f" {'ok' if max(tails) <= TARGET_TAIL else 'MISSED'}"
    )
    print(
        f"  events resent, all rounds   {resent} ({resent / sent:.2%}; target 0)"
        f" {'ok' if resent == 0 else 'MISSED'}"
    )
    if run.connected:
        print(
            f"  simulated stores connected  p50 {percentile(run.connected, 50):.2f}s,"
            f" last {max(run.connected):.2f}s after the start; first store fully acked"
            f" {min(run.store_seconds):.2f}s"
        )
    busy = ", ".join(f"{name} {seconds:.2f}" for name, seconds in run.cpu.items())
    print(f"  CPU seconds in {run.seconds:.2f}s on {os.cpu_count()} cores: {busy}")
    print(f"  replay requests answered    {run.replay_answered}/{run.stores - REAL_AGENTS}")
    workers = ", ".join(f"{m:.0f}" for m in run.worker_rss_mib)
    broker = f"{run.broker_rss_mib:.0f}"
    print(f"  peak RSS                    workers {workers} MiB, broker {broker} MiB")


def reference_mosquitto(work: Path, port: int, payloads: list[bytes], events: int) -> float:
    """The same messages through the same broker, `mosquitto_pub -l` QoS 1 into a bare
    `mosquitto_sub` QoS 1, timed from the first publish to the last message received."""
    lines = work / "payloads.txt"
    lines.write_bytes(b"\n".join(payloads) + b"\n")
    topic = f"bench/reference/{uuid.uuid4().hex[:6]}"
    sub = subprocess.Popen(
        [
            # Client ids of their own: the shipped broker config refuses empty ones.
            *("mosquitto_sub", "-i", f"bench-sub-{uuid.uuid4().hex[:8]}", "-h", "127.0.0.1"),
            *("-p", str(port), "-q", "1", "-t", topic, "-C", str(len(payloads))),
        ],
        stdout=subprocess.DEVNULL,
    )
    time.sleep(0.5)  # subscribed before the first publish
    started = time.perf_counter()
    with lines.open("rb") as source:
        subprocess.run(
            [
                *("mosquitto_pub", "-i", f"bench-pub-{uuid.uuid4().hex[:8]}", "-h", "127.0.0.1"),
                *("-p", str(port), "-q", "1", "-l", "-t", topic),
            ],
            stdin=source,
            check=True,
        )
    if sub.wait(timeout=600) != 0:
        sys.exit("bench_fleet: the reference subscriber failed")
    seconds = time.perf_counter() - started
    count = sum(payload.count(b'"specversion"') for payload in payloads)
    return count / seconds


def reference_copy(db_url: str) -> CopyRates:
    """The rows the fleet wrote, written again by binary COPY (the workers' format) in one
    transaction: the median of COPY_RUNS runs per table, each into a new table after a
    checkpoint (as the fleet run starts: one run alone swung from 58 to 109 k rows/s
    with where the server's checkpoints fell).

    The reference is a table shaped as `events` is: its columns and indexes, partitioned
    by month into the same partitions, so the server routes each row to its month as it
    does for the workers. One unpartitioned table with those columns and indexes, the
    reference of earlier rounds, is shown beside it: routing costs the server ~2 us a
    row here (10.5 against 8.6, medians of 6 alternating runs of 50,000 rows)."""
    rates: dict[str, list[float]] = {"partitioned": [], "unpartitioned": []}
    with psycopg.connect(db_url) as conn:
        rows = conn.execute("SELECT * FROM events").fetchall()
        types = [
            name
            for (name,) in conn.execute(
                "SELECT format_type(atttypid, atttypmod) FROM pg_attribute WHERE attrelid ="
                " 'events'::regclass AND attnum > 0 AND NOT attisdropped ORDER BY attnum"
            )
        ]
        bounds = [
            bound
            for (bound,) in conn.execute(
                "SELECT pg_get_expr(c.relpartbound, c.oid) FROM pg_inherits i JOIN pg_class c"
                " ON c.oid = i.inhrelid WHERE i.inhparent = 'events'::regclass ORDER BY 1"
            )
        ]
        key = conn.execute(
            "SELECT pg_get_partkeydef('events'::regclass)"
        ).fetchone()[0]  # fmt: skip
        for n in range(COPY_RUNS):
            for shape in rates:
                table = f"events_copy_{shape}_{n}"
                if shape == "partitioned":
                    conn.execute(
                        f"CREATE TABLE {table} (LIKE events INCLUDING ALL) PARTITION BY {key}"
                    )
                    for k, bound in enumerate(bounds):
                        conn.execute(f"CREATE TABLE {table}_{k} PARTITION OF {table} {bound}")
                else:
                    conn.execute(f"CREATE TABLE {table} (LIKE events INCLUDING ALL)")
                conn.commit()
                checkpoint(db_url)
                started = time.perf_counter()
                with (
                    conn.cursor() as cursor,
                    cursor.copy(f"COPY {table} FROM STDIN (FORMAT BINARY)") as copy,
                ):
                    copy.set_types(types)
                    for row in rows:
                        copy.write_row(row)
                conn.commit()
                rates[shape].append(len(rows) / (time.perf_counter() - started))
                conn.execute(f"DROP TABLE {table}")
                conn.commit()
    return CopyRates(
        statistics.median(rates["partitioned"]), statistics.median(rates["unpartitioned"])
    )


def checkpoint(db_url: str) -> None:
    """Write out what earlier runs left dirty, so a run does not pay for another's
    writes (the server's own checkpoints come every max_wal_size of WAL)."""
    with psycopg.connect(db_url, autocommit=True) as conn:
        conn.execute("CHECKPOINT")


def start_broker(directory: Path) -> tuple[int, subprocess.Popen[bytes]]:
    directory.mkdir(parents=True)
    port = free_server_port()
    conf = directory / "mosquitto.conf"
    conf.write_text(
        f"listener {port} 127.0.0.1\nallow_anonymous true\nuser root\n"
        f"persistence_location {directory}/\nlog_dest file {directory}/mosquitto.log\n"
        + BROKER_CONF.read_text(encoding="utf-8"),
        encoding="utf-8",
    )
    proc = subprocess.Popen([MOSQUITTO, "-c", str(conf)], stderr=subprocess.DEVNULL)
    wait(lambda: accepting(port), "mosquitto")
    return port, proc


def start_worker(work: Path, broker_url: str, db_url: str, n: int) -> subprocess.Popen[str]:
    log = (work / f"worker-{n}.log").open("w")
    proc = subprocess.Popen(
        [EDGE_CENTRAL, "run", "--broker", broker_url, "--db", db_url, "--worker-id", f"fleet-{n}"],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=log,
        text=True,
    )
    assert proc.stdout is not None
    if proc.stdout.readline().strip() != "ready":
        stop(proc)
        sys.exit(f"bench_fleet: edge-central worker {n} did not start (see {log.name})")
    return proc


def start_agent(work: Path, broker_url: str, store_id: str, events: int) -> subprocess.Popen[str]:
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "bench.fleet_agent",
            *(str(work / store_id), broker_url),
            *(store_id, str(events)),
        ],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=(work / f"{store_id}.log").open("w"),
        text=True,
    )
    assert proc.stdout is not None
    if proc.stdout.readline().strip() != "ready":
        stop(proc)
        sys.exit(f"bench_fleet: agent {store_id} did not start")
    return proc


def agent_done(agent: subprocess.Popen[str], deadline: float) -> tuple[float, int] | None:
    """(seconds to fully acked, events resent), or None if it did not finish in time."""
    assert agent.stdout is not None
    readable, _, _ = select.select([agent.stdout], [], [], max(0.0, deadline - time.monotonic()))
    line = agent.stdout.readline().split() if readable else []
    if len(line) != 3 or line[0] != "done":
        return None
    return float(line[1]), int(line[2])


def stop(proc: subprocess.Popen[str]) -> None:
    if proc.stdin is not None:
        try:
            proc.stdin.write("stop\n")
            proc.stdin.close()
        except (BrokenPipeError, ValueError):
            pass
    proc.terminate()
    try:
        proc.wait(timeout=30)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process so far."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def postgres_cpu_seconds() -> float:
    """CPU time of every PostgreSQL server process on this machine (the backends the
    workers and references use come and go; the server is otherwise idle here)."""
    total = 0.0
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            text = stat.read_text()
        except OSError:
            continue  # ended meanwhile
        if "(postgres)" in text:
            fields = text.rsplit(")", 1)[1].split()
            total += (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    return total


def peak_rss_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def count_events(db_url: str) -> int:
    with psycopg.connect(db_url) as conn:
        return conn.execute("SELECT COUNT(*) FROM events").fetchone()[0]  # type: ignore[index]


def create_database() -> str:
    name = f"bench_fleet_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(POSTGRES_ADMIN, autocommit=True, connect_timeout=5) as admin:
        admin.execute(f"CREATE DATABASE {name}")
    return f"postgresql://postgres@127.0.0.1:5432/{name}"


def drop_database(url: str) -> None:
    name = url.rsplit("/", 1)[1]
    with psycopg.connect(POSTGRES_ADMIN, autocommit=True) as admin:
        admin.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")


def raise_file_limit(stores: int) -> None:
    """Each simulated store holds a socket; the broker, started from here, inherits the
    limit for its side of every connection."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    need = stores * 3 + 1024
    if soft < need:
        resource.setrlimit(resource.RLIMIT_NOFILE, (min(need, hard), hard))
    if min(need, hard) < need:
        print(f"  (file limit {hard} is below the {need} this fleet needs: raise it)")


def accepting(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.5):
            return True
    except OSError:
        return False


if __name__ == "__main__":
    main()
