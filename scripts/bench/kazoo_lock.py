#!/usr/bin/env python3
"""The kazoo (Python) equivalent of `zk-lock PATH -- CMD...`, for benchmarks:
connect, take kazoo's Lock recipe, run the command, release, close."""
import subprocess
import sys

from kazoo.client import KazooClient


def main():
    hosts, path, command = sys.argv[1], sys.argv[2], sys.argv[3:]
    zk = KazooClient(hosts=hosts, timeout=10.0)
    zk.start()
    try:
        with zk.Lock(path, "kazoo"):
            status = subprocess.call(command)
    finally:
        zk.stop()
        zk.close()
    sys.exit(status)


if __name__ == "__main__":
    main()
