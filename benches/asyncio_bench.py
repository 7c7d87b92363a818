#!/usr/bin/env python3
"""The asyncio side of ringloop-bench: the same ten workloads, in Python's own event loop.

`ringloop-bench` embeds this file and feeds it to `python3 - --loop asyncio ...` on stdin
in each asyncio or uvloop cell, so the tutorial's own runtime stands in the table beside
ringloop, tokio and smol. It can also be run by hand:

    python3 benches/asyncio_bench.py --workload sleep_many -n 10000 [--loop uvloop]

It prints one JSON object on one line, the same sample the Rust runners print:
    {"ops": <completed operations>, "wall_ns": <wall time>, "lateness_ns": [...]}
and exits non-zero with a message on stderr when a count comes out wrong.

Standard library only; uvloop is used when asked for with `--loop uvloop` (and must import).
Python 3.7 or later (asyncio.run). The shapes match the Rust runners line for line; see the
ringloop-bench crate docs. tcp_echo uses asyncio's streams (start_server, open_connection,
readexactly, write and drain), the level asyncio code is written at.
`--durations K` prints the first K pseudo-random durations (microseconds), one a line, so a
test can check that Python and Rust draw the same ones.
"""

import argparse
import asyncio
import json
import sys
import time

MASK = (1 << 64) - 1
MAX_SLEEP_US = 50_000
SHARED_DEADLINE_NS = 50_000_000
LONG_SLEEP = 1.0
YIELD_TASKS = 64
TCP_CONNECTIONS = 64
TCP_MESSAGE = 1024
ECHO_BUF = 4096


class SplitMix64:
    """SplitMix64, exactly as workload.rs has it; Python integers are masked to 64 bits."""

    def __init__(self, seed):
        self.state = seed & MASK

    def next(self):
        self.state = (self.state + 0x9E3779B97F4A7C15) & MASK
        z = self.state
        z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & MASK
        z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & MASK
        return z ^ (z >> 31)


def durations_us(seed, n):
    rng = SplitMix64(seed)
    return [rng.next() % MAX_SLEEP_US for _ in range(n)]


class CountError(Exception):
    pass


def expect_eq(what, got, want):
    if got != want:
        raise CountError(f"{what}: got {got}, expected {want}")


def sample(ops, start_ns, lateness=None):
    s = {"ops": ops, "wall_ns": time.perf_counter_ns() - start_ns}
    if lateness is not None:
        s["lateness_ns"] = lateness
    return s


async def join_sum(tasks):
    total = 0
    for t in tasks:
        total += await t
    return total


async def sleeper(seconds):
    await asyncio.sleep(seconds)
    return 1


async def sleep_many(n, seed):
    durations = [us / 1_000_000 for us in durations_us(seed, n)]
    start = time.perf_counter_ns()
    tasks = [asyncio.create_task(sleeper(d)) for d in durations]
    return sample(await join_sum(tasks), start)


async def sleep_until_ns(deadline_ns):
    # asyncio has no sleep_until: sleep the time that is left, as asyncio code does.
    await asyncio.sleep(max(0, deadline_ns - time.monotonic_ns()) / 1e9)


async def same_deadline_sleeper(deadline_ns):
    await sleep_until_ns(deadline_ns)
    return 1


async def sleep_same_deadline(n, seed):
    start = time.perf_counter_ns()
    deadline = time.monotonic_ns() + SHARED_DEADLINE_NS
    tasks = [asyncio.create_task(same_deadline_sleeper(deadline)) for _ in range(n)]
    return sample(await join_sum(tasks), start)


async def timer_churn(n, seed):
    start = time.perf_counter_ns()
    done = 0
    for _ in range(n):
        # The first send() runs asyncio.sleep up to its await: call_later registers the timer.
        # close() raises GeneratorExit there, and sleep's finally cancels the TimerHandle.
        coro = asyncio.sleep(LONG_SLEEP)
        try:
            coro.send(None)
        except StopIteration:
            raise CountError("a 1 s sleep completed on its first step")
        coro.close()
        done += 1
    return sample(done, start)


async def ready(i):
    return i


async def timeout_ready(n, seed):
    start = time.perf_counter_ns()
    total = 0
    if hasattr(asyncio, "timeout"):  # Python 3.11+
        for i in range(n):
            async with asyncio.timeout(LONG_SLEEP):
                total += await ready(i)
    else:
        for i in range(n):
            total += await asyncio.wait_for(ready(i), LONG_SLEEP)
    s = sample(n, start)
    expect_eq("timeout_ready sum", total, n * (n - 1) // 2)
    return s


async def late_sleeper(deadline_ns):
    await sleep_until_ns(deadline_ns)
    return time.monotonic_ns() - deadline_ns  # negative if the timer fired early


async def lateness(n, seed):
    start = time.perf_counter_ns()
    deadline = time.monotonic_ns() + SHARED_DEADLINE_NS
    tasks = [asyncio.create_task(late_sleeper(deadline)) for _ in range(n)]
    late = [await t for t in tasks]
    return sample(len(late), start, late)


async def ident(i):
    return i


async def spawn_join(n, seed):
    start = time.perf_counter_ns()
    tasks = [asyncio.create_task(ident(i)) for i in range(n)]
    total = await join_sum(tasks)
    s = sample(n, start)
    expect_eq("spawn_join sum", total, n * (n - 1) // 2)
    return s


async def yielder(times):
    for _ in range(times):
        await asyncio.sleep(0)  # asyncio's yield to the loop
    return times


async def yield_many(n, seed):
    per_task = max(1, n // YIELD_TASKS)
    start = time.perf_counter_ns()
    tasks = [asyncio.create_task(yielder(per_task)) for _ in range(YIELD_TASKS)]
    return sample(await join_sum(tasks), start)


def link(depth, n, done):
    async def body():
        if depth >= n:
            done.set_result(depth)
        else:
            link(depth + 1, n, done)

    # The loop's ready queue holds the new task until it runs, and it never suspends,
    # so no reference needs keeping.
    asyncio.get_running_loop().create_task(body())


async def chained_spawn(n, seed):
    done = asyncio.get_running_loop().create_future()
    start = time.perf_counter_ns()
    link(1, n, done)
    return sample(await done, start)


async def echo(ping, pong, n):
    for _ in range(n):
        await pong.put(await ping.get())
    return n


async def ping_pong(n, seed):
    ping, pong = asyncio.Queue(1), asyncio.Queue(1)
    start = time.perf_counter_ns()
    echo_task = asyncio.create_task(echo(ping, pong, n))
    for i in range(n):
        await ping.put(i)
        expect_eq("ping_pong echo", await pong.get(), i)
    s = sample(0, start)
    s["ops"] = await echo_task
    return s


def stamp(conn, rnd, tail):
    """The message of round trip `rnd` on connection `conn`, as workload.rs stamps it."""
    return ((conn << 32) | (rnd & 0xFFFFFFFF)).to_bytes(8, "little") + tail


async def echo_client(reader, writer, conn, rounds):
    tail = bytes([conn & 0xFF]) * (TCP_MESSAGE - 8)
    for rnd in range(rounds):
        msg = stamp(conn, rnd, tail)
        writer.write(msg)
        await writer.drain()
        if await reader.readexactly(TCP_MESSAGE) != msg:
            raise CountError(f"connection {conn}, round trip {rnd}: wrong echo")
    writer.close()
    await writer.wait_closed()
    return rounds


async def tcp_echo(n, seed):
    rounds = max(1, n // TCP_CONNECTIONS)
    loop = asyncio.get_running_loop()
    accepted = 0
    all_accepted = loop.create_future()
    handlers = []

    async def echo(reader, writer):
        # start_server runs each connection's callback in a task of its own.
        nonlocal accepted
        handlers.append(asyncio.current_task())
        accepted += 1
        if accepted == TCP_CONNECTIONS:
            all_accepted.set_result(None)
        echoed = 0
        while True:
            data = await reader.read(ECHO_BUF)
            if not data:
                break
            writer.write(data)
            await writer.drain()
            echoed += len(data)
        writer.close()
        return echoed

    # Set-up, not timed: 64 connections, each accepted and handed to its echo task.
    server = await asyncio.start_server(echo, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    clients = [await asyncio.open_connection("127.0.0.1", port) for _ in range(TCP_CONNECTIONS)]
    await all_accepted
    start = time.perf_counter_ns()
    tasks = [
        asyncio.create_task(echo_client(r, w, conn, rounds))
        for conn, (r, w) in enumerate(clients)
    ]
    s = sample(await join_sum(tasks), start)
    echoed = sum([await h for h in handlers])
    server.close()
    await server.wait_closed()
    expect_eq("tcp_echo bytes echoed", echoed, TCP_CONNECTIONS * rounds * TCP_MESSAGE)
    return s


WORKLOADS = {
    "sleep_many": sleep_many,
    "sleep_same_deadline": sleep_same_deadline,
    "timer_churn": timer_churn,
    "timeout_ready": timeout_ready,
    "lateness": lateness,
    "spawn_join": spawn_join,
    "yield_many": yield_many,
    "chained_spawn": chained_spawn,
    "ping_pong": ping_pong,
    "tcp_echo": tcp_echo,
}


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workload", choices=sorted(WORKLOADS))
    parser.add_argument("-n", type=int, default=1000)
    parser.add_argument("--seed", type=lambda s: int(s, 0), default=0x5EED)
    parser.add_argument("--loop", choices=["asyncio", "uvloop"], default="asyncio")
    parser.add_argument("--durations", type=int, metavar="K")
    args = parser.parse_args()

    if args.durations is not None:
        for us in durations_us(args.seed, args.durations):
            print(us)
        return 0
    if args.workload is None:
        parser.error("--workload is required")
    if args.n < 1:
        parser.error("-n must be at least 1")

    coro = WORKLOADS[args.workload](args.n, args.seed)
    try:
        if args.loop == "uvloop":
            import uvloop

            if hasattr(uvloop, "run"):
                result = uvloop.run(coro)
            else:
                uvloop.install()
                result = asyncio.run(coro)
        else:
            result = asyncio.run(coro)
    except CountError as e:
        print(f"{args.workload}: {e}", file=sys.stderr)
        return 1
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
