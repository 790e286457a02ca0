#!/usr/bin/env python3
"""encrypt=true means TLS for the whole session or no connection (suite 'poller').

Usage: test_tls.py encryption TDSLITE POLLER_DRIVER SCHEMA MAKE_CERTS

The poller (poller_driver warm, through the one db-lib login) reaches tdslite
through a TCP relay that keeps every byte of both directions. The relay is the
judge of "the whole session": the statements' column names (UTF-16 on the
wire) and the rows' values must not appear in what it carried. The first case
shows that the relay does see them on a session in clear text.
"""
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
import tdslite_run as tds  # noqa: E402
from tdslite_run import check, fail  # noqa: E402

MARKERS = ("Company_RecID".encode("utf-16-le"), "Company_Name".encode("utf-16-le"))


class Relay:
    """127.0.0.1:port -> 127.0.0.1:target, one thread per direction, bytes kept."""

    def __init__(self, target):
        self.target = target
        self.seen = bytearray()
        self.lock = threading.Lock()
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(16)
        self.port = self.sock.getsockname()[1]
        threading.Thread(target=self.accept, daemon=True).start()

    def accept(self):
        while True:
            try:
                a, _ = self.sock.accept()
            except OSError:
                return
            b = socket.create_connection(("127.0.0.1", self.target))
            for src, dst in ((a, b), (b, a)):
                threading.Thread(target=self.pump, args=(src, dst), daemon=True).start()

    def pump(self, src, dst):
        try:
            while True:
                data = src.recv(65536)
                if not data:
                    break
                with self.lock:
                    self.seen += data
                dst.sendall(data)
        except OSError:
            pass
        for s in (src, dst):
            try:
                s.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass

    def clear_text_seen(self):
        with self.lock:
            return [m.decode("utf-16-le") for m in MARKERS if m in self.seen]

    def close(self):
        self.sock.close()


class Env:
    def __init__(self, tdslite, driver, schema, make_certs):
        self.tdslite, self.driver, self.schema = tdslite, driver, schema
        self.tmp = tempfile.mkdtemp(prefix="poller-tls-")
        subprocess.run([make_certs, self.tmp], check=True, timeout=60)
        self.db = os.path.join(self.tmp, "source.db")
        subprocess.run([tdslite, "--db", self.db, "--generate", "20", "--schema", schema],
                       check=True, capture_output=True, timeout=50)
        self.server = None
        self.log = os.path.join(self.tmp, "tdslite.log")
        self.runs = 0

    def pem(self, name):
        return os.path.join(self.tmp, name)

    def serve(self, *tls):
        self.stop()
        with open(self.log, "w") as log:
            self.server, self.port = tds.serve(self.tdslite, self.db, os.path.join(self.tmp, "ready"),
                                               extra=list(tls), log_level="info", stdout=log,
                                               stderr=subprocess.STDOUT)

    def serve_tls(self, login_only=False):
        self.serve("--tls-cert", self.pem("server.pem"), "--tls-key", self.pem("server.key"),
                   *(["--tls-login-only"] if login_only else []))

    def stop(self):
        if self.server and self.server.poll() is None:
            self.server.send_signal(signal.SIGTERM)
            self.server.wait(timeout=10)
        self.server = None

    def warm(self, params):
        """poller_warm of Company through a fresh relay: (exit code, stderr, relay)."""
        relay = Relay(self.port)
        self.runs += 1
        url = (f"sqlserver://127.0.0.1:{relay.port};database={tds.DATABASE};user={tds.USER};"
               f"password={tds.PASSWORD};connectTimeout=5;socketTimeout=20;{params}")
        r = subprocess.run([self.driver, "warm", "--url", url, "--models", "Company",
                            "--store", os.path.join(self.tmp, f"store{self.runs}"),
                            "--schema", self.schema], capture_output=True, text=True, timeout=60)
        relay.close()
        return r.returncode, r.stderr, relay

    def works(self, params, what):
        rc, err, relay = self.warm(params)
        check(rc == 0, f"{what}: warm-up failed ({rc}): {err}")
        return relay

    def refused(self, params, what, words):
        rc, err, _ = self.warm(params)
        check(rc != 0, f"{what}: the poller connected")
        for w in words:
            check(w in err, f"{what}: the error does not say '{w}': {err}")

    def close(self):
        self.stop()
        shutil.rmtree(self.tmp, ignore_errors=True)


def encryption(env):
    # A server without TLS: encrypt=false works in clear text (and the relay sees it) ...
    env.serve()
    relay = env.works("encrypt=false", "encrypt=false without TLS")
    check(relay.clear_text_seen(), "the relay saw no statement text of a clear session")
    # ... encrypt=true is refused, with an error that says why.
    env.refused("encrypt=true;trustServerCertificate=true", "encrypt=true without TLS",
                ["cannot connect", "encrypt=true: the server must offer TLS"])

    # SQL Server with Force Encryption.
    env.serve_tls()
    relay = env.works("encrypt=true;trustServerCertificate=true", "trusted certificate")
    check(not relay.clear_text_seen(), f"clear text on a TLS session: {relay.clear_text_seen()}")
    ca = env.pem("ca.pem")
    relay = env.works(f"encrypt=true;trustServerCertificateCA={ca}", "the right CA")
    check(not relay.clear_text_seen(), "clear text on a verified TLS session")
    env.refused(f"encrypt=true;trustServerCertificateCA={env.pem('other-ca.pem')}",
                "another CA", ["cannot connect"])
    env.refused("encrypt=true", "the system's CAs (which do not know the test CA)",
                ["cannot connect"])
    env.refused("encrypt=true;trustServerCertificateCA=/nonexistent/ca.pem", "a missing CA file",
                ["trustServerCertificateCA /nonexistent/ca.pem: No such file"])

    # SQL Server without Force Encryption: a client that asks for TLS gets
    # it for the whole session; one that does not, for the login only.
    env.serve_tls(login_only=True)
    relay = env.works("encrypt=true;trustServerCertificate=true", "encrypt=true, login-only server")
    check(not relay.clear_text_seen(),
          f"encrypt=true left the session in clear text: {relay.clear_text_seen()}")
    relay = env.works("encrypt=false", "encrypt=false, login-only server")
    check(relay.clear_text_seen(), "encrypt=false on a login-only server: expected clear text")
    with open(env.log) as f:
        log = f.read()
    check("for the whole session" in log and "for the login packet only" in log,
          f"tdslite did not report both kinds of session:\n{log}")


if __name__ == "__main__":
    sys.exit(tds.run_case(__doc__, {"encryption": encryption}, Env, 4))
