#!/usr/bin/env python3
"""The kazoo (Python) equivalent of `zk-elect PATH -c CMD`, for benchmarks:
campaign with kazoo's Election recipe; when elected, run CMD with sh -c and
hold leadership while it runs. SIGTERM resigns cleanly (closes the session)."""
import signal
import subprocess
import sys

from kazoo.client import KazooClient


def main():
    hosts, path, command = sys.argv[1], sys.argv[2], sys.argv[3]
    timeout = float(sys.argv[4]) if len(sys.argv) > 4 else 10.0
    zk = KazooClient(hosts=hosts, timeout=timeout)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    zk.start()
    try:
        zk.Election(path, "kazoo").run(lambda: subprocess.call(["sh", "-c", command]))
    finally:
        zk.stop()
        zk.close()


if __name__ == "__main__":
    main()
