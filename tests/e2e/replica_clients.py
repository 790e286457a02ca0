#!/usr/bin/python3
"""python-socketio clients for test_replicas.js: connects CLIENTS clients per
transport (polling, upgraded to websocket by default; websocket only)
through URL, asks each once, prints "ready", then after a line on stdin
asks each ROUNDS more times while the test kills a replica. A request that
finds its replica gone waits for the client's own reconnection and is asked
again. Every answer must equal the source (DB). Exit 0, or 1 with the reason.

Usage: replica_clients.py URL DB PSK CLIENTS ROUNDS"""
import sqlite3
import sys
import threading
import time

import socketio

URL, DB, PSK = sys.argv[1:4]
CLIENTS, ROUNDS = int(sys.argv[4]), int(sys.argv[5])
SEL = {"select": ["companyId", "companyName"]}


def want():
    c = sqlite3.connect(DB)
    rows = c.execute("SELECT Company_ID, Company_Name FROM Company ORDER BY Company_RecID").fetchall()
    return {"success": True, "data": [{"companyId": a, "companyName": b} for a, b in rows]}


def ask(sio, expect):
    for _ in range(8):
        try:
            r = sio.call("fetchCompanies", SEL, timeout=15)
        except Exception:  # noqa: BLE001 - the replica died under it: wait for the reconnect
            end = time.time() + 30
            while not sio.connected and time.time() < end:
                time.sleep(0.05)
            continue
        if r != expect:
            raise AssertionError(f"wrong answer: {str(r)[:200]}")
        return
    raise AssertionError("no answer after 8 attempts")


def main():
    expect = want()
    clients = []
    for transports in (["polling", "websocket"], ["websocket"]):
        for _ in range(CLIENTS):
            sio = socketio.Client(reconnection=True, reconnection_delay=0.1,
                                  reconnection_delay_max=1)
            sio.reconnects = 0
            sio.on("connect", lambda s=sio: setattr(s, "reconnects", s.reconnects + 1))
            sio.connect(URL, auth={"psk": PSK}, transports=transports, wait_timeout=10)
            clients.append(sio)
    errors = []
    try:
        for sio in clients:
            ask(sio, expect)
        print("ready", flush=True)
        sys.stdin.readline()

        def rounds(sio):
            try:
                for _ in range(ROUNDS):
                    ask(sio, expect)
            except Exception as e:  # noqa: BLE001 - reported below
                errors.append(repr(e))
        threads = [threading.Thread(target=rounds, args=(s,)) for s in clients]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        moved = sum(s.reconnects > 1 for s in clients)
        print(f"reconnected {moved}", flush=True)
    finally:
        for sio in clients:
            sio.disconnect()
    if errors:
        print("\n".join(errors), file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
