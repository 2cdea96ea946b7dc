"""Hostile HTTP clients for the abuse suite (test-e2e-http-abuse.py) and the slowloris
benchmark (tools/bench-slowloris.py): a slowloris that holds hundreds of half-open
connections dripping header bytes (reopening the ones the server closes), raw socket
exchanges, and a well-behaved client that records each request's status and latency."""
import http.client
import json
import socket
import threading
import time


def raw_exchange(port, data, timeout=15, host="127.0.0.1", src=None):
    """Sends data on a fresh connection, then reads until the server closes or timeout;
    returns the bytes received (b"" when it closed without an answer)."""
    so = socket.socket()
    if src:
        so.bind((src, 0))
    so.settimeout(timeout)
    so.connect((host, port))
    out = b""
    try:
        so.sendall(data)
        while True:
            chunk = so.recv(65536)
            if not chunk:
                break
            out += chunk
    except OSError:
        pass
    finally:
        so.close()
    return out


def status_of(resp):
    """The status code of a raw HTTP response (None if there is none)."""
    try:
        return int(resp.split(b" ", 2)[1]) if resp.startswith(b"HTTP/1.") else None
    except (IndexError, ValueError):
        return None


class Slowloris(threading.Thread):
    """n half-open connections spread over source addresses 127.0.0.2.., each sending
    one more header byte every `drip` seconds and never finishing the head. A connection
    the server closes is counted and reopened, so that n stay open."""

    def __init__(self, port, n=300, addrs=6, drip=1.0):
        super().__init__(daemon=True)
        self.port, self.n, self.addrs, self.drip = port, n, addrs, drip
        self.stop_flag = False
        self.opened = self.closed_by_server = self.answered = self.failed_connects = 0
        self.socks = []

    def _open(self, i):
        so = socket.socket()
        so.bind((f"127.0.0.{2 + i % self.addrs}", 0))
        so.setblocking(True)
        so.settimeout(5)
        try:
            so.connect(("127.0.0.1", self.port))
            so.sendall(b"POST /v1/completions HTTP/1.1\r\nHost: x\r\nX-a: ")
            so.setblocking(False)
            self.opened += 1
            return so
        except OSError:
            self.failed_connects += 1
            so.close()
            return None

    def run(self):
        self.socks = [self._open(i) for i in range(self.n)]
        while not self.stop_flag:
            t = time.time()
            for i, so in enumerate(self.socks):
                if self.stop_flag:
                    break
                if so is None:
                    self.socks[i] = self._open(i)
                    continue
                try:
                    got = so.recv(4096)
                    # An answer (503 over the per-client limit) or EOF: the server let it go.
                    if got:
                        self.answered += 1
                    self.closed_by_server += 1
                    so.close()
                    self.socks[i] = self._open(i)
                    continue
                except BlockingIOError:
                    pass
                except OSError:
                    self.closed_by_server += 1
                    so.close()
                    self.socks[i] = self._open(i)
                    continue
                try:
                    so.send(b"a")
                except OSError:
                    pass
            time.sleep(max(0.0, self.drip - (time.time() - t)))
        for so in self.socks:
            if so is not None:
                so.close()

    def open_now(self):
        return sum(1 for so in self.socks if so is not None)


class Polite(threading.Thread):
    """A well-behaved client: one short completion after another on a fresh connection;
    records (status or exception name, seconds)."""

    def __init__(self, port, body=None, pause=0.05, timeout=60, headers=None):
        super().__init__(daemon=True)
        self.port, self.pause, self.timeout = port, pause, timeout
        self.body = body or {"prompt": "Once upon a time", "max_tokens": 4, "temperature": 0}
        self.headers = {"Content-Type": "application/json", **(headers or {})}
        self.results, self.stop_flag = [], False

    def one(self):
        t = time.time()
        try:
            c = http.client.HTTPConnection("127.0.0.1", self.port, timeout=self.timeout)
            c.request("POST", "/v1/completions", body=json.dumps(self.body).encode(), headers=self.headers)
            r = c.getresponse()
            r.read()
            c.close()
            st = r.status
        except Exception as ex:  # noqa: BLE001 - recorded as the outcome
            st = type(ex).__name__
        self.results.append((st, time.time() - t))

    def run(self):
        while not self.stop_flag:
            self.one()
            time.sleep(self.pause)


def percentile(xs, q):
    xs = sorted(xs)
    if not xs:
        return None
    k = min(len(xs) - 1, max(0, int(round(q * (len(xs) - 1)))))
    return xs[k]
