"""A kazoo contender for zk-nemesis, as NemesisWorker.java is a Curator one:
takes kazoo's Lock, or stands in kazoo's Election, on the same path as the
zk tools, again and again, until STOP exists. While it owns, it appends
"<CLOCK_MONOTONIC ns> <czxid>" to DIR/NAME-<n>.hb every 20 ms (the clock
the tools' heartbeats use). As kazoo's docs tell a careful user, it stops
acting as owner the moment the connection is SUSPENDED or LOST.

    nemesis_worker.py CONNECT PATH lock|election NAME DIR STOP
"""
import os
import random
import sys
import time

from kazoo.client import KazooClient, KazooState
from kazoo.exceptions import LockTimeout
from kazoo.retry import KazooRetry

connected = True


def main():
    connect, path, mode, name, directory, stop = sys.argv[1:7]
    rng = random.Random(name)
    client = KazooClient(
        hosts=connect,
        timeout=4.0,
        connection_retry=KazooRetry(max_tries=-1, delay=0.1, max_delay=1.0),
        command_retry=KazooRetry(max_tries=-1, delay=0.1, max_delay=1.0),
    )

    def listen(state):
        global connected
        connected = state == KazooState.CONNECTED

    client.add_listener(listen)
    client.start(timeout=60)
    runs = 0
    # One contender for the whole run, as kazoo's own Election.run keeps
    # one: an acquire cut short by a lost connection may leave its node
    # behind (kazoo's clean-up needs the connection it just lost), and only
    # the same Lock finds that node again (by its prefix) and goes on with
    # it. A new Lock per attempt would queue behind its own leaked node,
    # whose session lives on, and stall everyone for good.
    # kazoo's Election takes part through its Lock (its `lock`), as
    # Election.run does; a timed acquire lets us see STOP.
    if mode == "election":
        lock = client.Election(path, name).lock
    else:
        lock = client.Lock(path, name)
    while not os.path.exists(stop):
        try:
            if not acquire(lock):
                continue
            try:
                runs += 1
                hold(client, path + "/" + lock.node, os.path.join(directory, f"{name}-{runs}.hb"),
                     rng.randint(100, 500), name)
            finally:
                lock.release()
            time.sleep(rng.randint(50, 200) / 1000)
        except Exception as e:  # connection loss and friends, on purpose
            print(f"{name}: {e!r}", file=sys.stderr, flush=True)
            time.sleep(0.2)
    client.stop()
    client.close()


def acquire(lock):
    try:
        return lock.acquire(timeout=1)
    except LockTimeout:  # kazoo has removed our node
        return False


def hold(client, node, file, hold_ms, name):
    czxid = client.exists(node).czxid
    # In the worker's log, to explain a finding: which node, which session.
    session = client.client_id[0] if client.client_id else 0
    print(f"owns {node} czxid {czxid} session {session:#x} at {time.monotonic_ns()}", flush=True)
    end = time.monotonic_ns() + hold_ms * 1_000_000
    while time.monotonic_ns() < end and connected:
        with open(file, "a") as f:
            f.write(f"{time.monotonic_ns()} {czxid}\n")
        time.sleep(0.02)


main()
