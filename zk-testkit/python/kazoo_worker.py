"""A kazoo client contending on one path, for tests: interop is tested
against the real kazoo, not our idea of it.

    kazoo_worker.py CONNECT PATH RECIPE ITERATIONS ID COMMAND

RECIPE is lock (kazoo's Lock), write (WriteLock), read (ReadLock) or
election (Election). Prints "ready" once connected and waits for a line on
stdin, so workers start together; then ITERATIONS times takes the lock (or
wins the election), runs COMMAND with sh -c while holding it, and lets go.
Before each let-go it prints the contenders kazoo sees, as one JSON line.
With ITERATIONS 0 it prints those contenders once and exits.
"""
import json
import subprocess
import sys

from kazoo.client import KazooClient


def main():
    connect, path, recipe, iterations, ident, command = sys.argv[1:7]
    client = KazooClient(hosts=connect, timeout=10.0)
    client.start(timeout=30)
    make = {
        "lock": client.Lock,
        "write": client.WriteLock,
        "read": client.ReadLock,
        "election": client.Election,
    }[recipe]
    contender = make(path, ident)
    if int(iterations) == 0:
        print(json.dumps(contender.contenders()), flush=True)
        client.stop()
        return
    print("ready", flush=True)
    sys.stdin.readline()
    for _ in range(int(iterations)):
        if recipe == "election":
            contender.run(lambda: run(command, contender))
        else:
            with contender:
                run(command, contender)
    client.stop()
    client.close()


def run(command, contender):
    code = subprocess.call(["sh", "-c", command])
    print(json.dumps(contender.contenders()), flush=True)
    if code != 0:
        sys.exit(code)


main()
