#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""Peers for the client library's integration tests (test_kube_tls.sh,
test_kube_retry.sh), each on loopback and a port the test picked:

  fakeapi.py tls PORT CERT KEY
      an HTTPS server with that certificate: GET answers a small JSON
      object, a websocket upgrade 404: enough to see whether a client's TLS
      handshake was accepted or refused;
  fakeapi.py forward LISTEN_HOST LISTEN_PORT TARGET_PORT
      a TCP forwarder to 127.0.0.1:TARGET_PORT (the real API server reached
      at another address);
  fakeapi.py proxy PORT UPSTREAM_PORT PKI_DIR MODE LOG
      plain HTTP in front of the real API server (reached with the admin
      certificate of PKI_DIR), every request logged to LOG as
      "<monotonic seconds> <method> <path> <status>", and by MODE:
        pass         forwards everything;
        empty-watch  answers every watch at once with an empty 200 stream,
                     as a proxy that ends streams cleanly;
        error-watch  answers the first watch with one ERROR event (code 504,
                     "Too large resource version", as after an etcd restore),
                     forwards the others;
        throttle     answers the first two lists, the first watch and every
                     websocket upgrade with 429 and Retry-After: 2; the first
                     three Events created with 429 and Retry-After: 2, 500,
                     and 503 and Retry-After: 2.
  fakeapi.py together PORT N
      plain HTTP: holds every request until N are open at once, then
      answers each (200, {"path": its path}): a client that sends its
      requests one after the other gets no answer. Besides, GET /held
      is answered only once a GET /release (or /release-later: 2 s
      after it comes) comes after it ({"released": false} in its answer
      when none came within 120 s), and /quick/... at once (the window of
      kube_call_start). A release waits (up to 60 s) until a /held waits
      for it (?held=N: until N do): a client's /held may reach the server
      after a /release the client sent later, on another connection.
Ends on SIGTERM.
"""
import http.client
import http.server
import json
import signal
import socket
import socketserver
import ssl
import sys
import threading
import time
import urllib.parse


def json_body(obj):
    return (json.dumps(obj) + "\n").encode()


class Quiet(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, fmt, *args):
        pass

    def reply(self, status, obj, extra=()):
        body = json_body(obj)
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        for k, v in extra:
            self.send_header(k, v)
        self.end_headers()
        self.wfile.write(body)


class TLSHandler(Quiet):
    def do_GET(self):
        if self.headers.get("Upgrade", "").lower() == "websocket":
            self.reply(404, {"kind": "Status", "code": 404, "reason": "NotFound",
                             "message": "no websockets here"})
            return
        self.reply(200, {"kind": "APIVersions", "versions": ["v1"]})


class Server(socketserver.ThreadingMixIn, http.server.HTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    # A client's window of calls (KUBE_MANY_MAX) connects at once.
    request_queue_size = 128

    def handle_error(self, request, client_address):
        # A client that went away (a call cancelled, a test that ended)
        # is no error of the server's: no traceback for it in the log.
        if isinstance(sys.exc_info()[1], (BrokenPipeError, ConnectionResetError)):
            return
        super().handle_error(request, client_address)


def serve_tls(port, cert, key):
    srv = Server(("127.0.0.1", int(port)), TLSHandler)
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(cert, key)
    srv.socket = ctx.wrap_socket(srv.socket, server_side=True)
    srv.serve_forever()


def pump(src, dst):
    try:
        while True:
            data = src.recv(65536)
            if not data:
                break
            dst.sendall(data)
    except OSError:
        pass
    for s in (src, dst):
        try:
            s.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass


def forward(host, port, target):
    ls = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    ls.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    ls.bind((host, int(port)))
    ls.listen(64)
    while True:
        c, _ = ls.accept()
        try:
            u = socket.create_connection(("127.0.0.1", int(target)))
        except OSError:
            c.close()
            continue
        threading.Thread(target=pump, args=(c, u), daemon=True).start()
        threading.Thread(target=pump, args=(u, c), daemon=True).start()


class Proxy(Quiet):
    state = {"lists": 0, "watches": 0, "event_posts": 0}
    lock = threading.Lock()

    def log_request_line(self, status):
        with self.lock:
            with open(self.server.log, "a") as f:
                f.write("%.3f %s %s %d\n" % (time.monotonic(), self.command, self.path, status))

    def upstream(self):
        ctx = ssl.create_default_context(cafile=self.server.pki + "/ca.crt")
        ctx.load_cert_chain(self.server.pki + "/admin.crt", self.server.pki + "/admin.key")
        return http.client.HTTPSConnection("127.0.0.1", self.server.upstream_port, context=ctx,
                                           timeout=700)

    def chunk(self, data):
        self.wfile.write(b"%x\r\n%s\r\n" % (len(data), data))
        self.wfile.flush()

    def stream_head(self):
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()

    def forward(self):
        body = None
        n = int(self.headers.get("Content-Length", "0") or 0)
        if n:
            body = self.rfile.read(n)
        conn = self.upstream()
        headers = {k: v for k, v in self.headers.items()
                   if k.lower() in ("accept", "content-type", "user-agent")}
        conn.request(self.command, self.path, body=body, headers=headers)
        resp = conn.getresponse()
        self.log_request_line(resp.status)
        if resp.getheader("Transfer-Encoding", "").lower() == "chunked" and self.is_watch():
            self.send_response(resp.status)
            self.send_header("Content-Type", resp.getheader("Content-Type", "application/json"))
            self.send_header("Transfer-Encoding", "chunked")
            self.end_headers()
            while True:
                data = resp.read1(65536)
                if not data:
                    break
                self.chunk(data)
            self.wfile.write(b"0\r\n\r\n")
            self.wfile.flush()
            self.close_connection = True
        else:
            data = resp.read()
            self.send_response(resp.status)
            self.send_header("Content-Type", resp.getheader("Content-Type", "application/json"))
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)
        conn.close()

    def is_watch(self):
        q = self.path.partition("?")[2].split("&")
        return "watch=1" in q or "watch=true" in q

    def throttled(self):
        self.log_request_line(429)
        self.reply(429, {"kind": "Status", "apiVersion": "v1", "status": "Failure", "code": 429,
                         "reason": "TooManyRequests", "message": "slow down"},
                   [("Retry-After", "2")])

    def handle_any(self):
        mode = self.server.mode
        watch = self.is_watch()
        with self.lock:
            if watch:
                self.state["watches"] += 1
            elif self.command == "GET":
                self.state["lists"] += 1
            events = self.command == "POST" and self.path.partition("?")[0].endswith("/events")
            if events:
                self.state["event_posts"] += 1
            lists, watches = self.state["lists"], self.state["watches"]
            event_posts = self.state["event_posts"]
        if mode == "throttle" and events and event_posts <= 3:
            self.rfile.read(int(self.headers.get("Content-Length", "0") or 0))
            if event_posts == 1:
                return self.throttled()
            code = 500 if event_posts == 2 else 503
            self.log_request_line(code)
            return self.reply(code, {"kind": "Status", "apiVersion": "v1", "status": "Failure",
                                     "code": code, "reason": "InternalError", "message": "oops"},
                              [("Retry-After", "2")] if code == 503 else [])
        if mode == "throttle":
            if self.headers.get("Upgrade", "").lower() == "websocket":
                return self.throttled()
            if (watch and watches == 1) or (not watch and self.command == "GET" and lists <= 2):
                return self.throttled()
        if mode == "empty-watch" and watch:
            self.log_request_line(200)
            self.stream_head()
            self.wfile.write(b"0\r\n\r\n")
            self.wfile.flush()
            return
        if mode == "error-watch" and watch and watches == 1:
            self.log_request_line(200)
            self.stream_head()
            self.chunk(json_body({"type": "ERROR", "object": {
                "kind": "Status", "apiVersion": "v1", "status": "Failure", "code": 504,
                "reason": "Timeout", "message": "Too large resource version"}}))
            self.wfile.write(b"0\r\n\r\n")
            self.wfile.flush()
            return
        self.forward()

    do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = handle_any


def proxy(port, upstream_port, pki, mode, log):
    srv = Server(("127.0.0.1", int(port)), Proxy)
    srv.upstream_port = int(upstream_port)
    srv.pki = pki
    srv.mode = mode
    srv.log = log
    srv.serve_forever()


class TogetherHandler(Quiet):
    def do_GET(self):
        srv = self.server
        if self.path.startswith("/quick/"):
            self.reply(200, {"path": self.path})
            return
        path, _, query = self.path.partition("?")
        if path == "/release-later":
            time.sleep(2)
        if path in ("/held", "/release", "/release-later"):
            released = True
            with srv.cond:
                if path != "/held":
                    # A /held sent first may reach us after this: wait
                    # for them (a release before one would leave it held).
                    want = int(urllib.parse.parse_qs(query).get("held", ["1"])[0])
                    srv.cond.wait_for(lambda: srv.pending >= want, timeout=60)
                    srv.gen += 1
                    srv.pending = 0
                    srv.cond.notify_all()
                else:
                    gen = srv.gen
                    srv.pending += 1
                    srv.cond.notify_all()
                    released = srv.cond.wait_for(lambda: srv.gen > gen, timeout=120)
            self.reply(200, {"path": self.path, "released": released})
            return
        with srv.cond:
            srv.open += 1
            srv.cond.notify_all()
            srv.cond.wait_for(lambda: srv.open >= srv.want, timeout=120)
        self.reply(200, {"path": self.path})

    do_POST = do_GET


def together(port, n):
    srv = Server(("127.0.0.1", int(port)), TogetherHandler)
    srv.cond = threading.Condition()
    srv.open = 0
    srv.gen = 0
    srv.pending = 0
    srv.want = int(n)
    srv.serve_forever()


def main():
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    cmd, args = sys.argv[1], sys.argv[2:]
    {"tls": serve_tls, "forward": forward, "proxy": proxy, "together": together}[cmd](*args)


if __name__ == "__main__":
    main()
