# SPDX-License-Identifier: Apache-2.0
"""The Python side of tests/bench/publish.sh (make bench): stamping what
arrives, the latency figures, the RSS split and the slow HTTP clients.

  pipeline.py stamp              JSON objects on stdin (kubectl get -w -o json),
                                 one per line on stdout with their arrival time
  pipeline.py follow FILE        the same for the JSON lines appended to FILE
                                 (the agent's --output), read as they come
  pipeline.py report PREFIX N RECORDS EVENTS
                                 capture -> AuditRecord and -> Event latency of
                                 the lines starting with PREFIX
  pipeline.py export PREFIX N STAMPED
                                 capture -> export line latency
  pipeline.py count PREFIX RECORDS
                                 how many lines starting with PREFIX arrived
  pipeline.py post SERVER DIR NS PREFIX N RATE CONC
                                 the reference of capture -> Event: N Events
                                 "PREFIXi" created in NS by a bare client
                                 (CONC connections, HTTP/1.1, the admin
                                 certificate: DIR/ca, DIR/cert, DIR/key), the
                                 i-th due at RATE a second; prints "DUE i t"
                                 lines, the due wall times
  pipeline.py postreport PREFIX DUE EVENTS
                                 due -> Event seen (median, p99) of those
  pipeline.py smaps PID          "MAPS FILES ANON" kB: the RSS of the BPF
                                 map mappings (the ring buffer, mapped twice),
                                 of files (the binary, shared libraries) and
                                 of the rest (heap, stacks, anonymous)
  pipeline.py cpusnap FILE       the CPU time of every process, by name, and
                                 the wall time, into FILE
  pipeline.py cpu FILE           the CPU each name used since cpusnap FILE
                                 (% of one core), the busiest first: where a
                                 2-core machine's time went during a run
  pipeline.py apitime BEFORE AFTER
                                 the API server's own mean time per create
                                 (POST) of an AuditRecord and of an Event
                                 between two texts of its /metrics
  pipeline.py slow PORT N        N connections to 127.0.0.1:PORT held open,
                                 one trickling a request a byte every 0.5 s;
                                 a connection the server closes is opened
                                 again at the next half second
Timings only: never part of make test.
"""
import datetime
import json
import os
import socket
import sys
import time


def wall(s):
    return (datetime.datetime.strptime(s, "%Y-%m-%dT%H:%M:%S.%fZ")
            .replace(tzinfo=datetime.timezone.utc).timestamp())


def quantile(v, p):
    v = sorted(v)
    return v[min(len(v) - 1, int(p * len(v)))] if v else float("nan")


def emit(obj):
    print(json.dumps({"t": time.time(), "o": obj}), flush=True)


def stamp():
    dec, buf = json.JSONDecoder(), ""
    while True:
        chunk = os.read(0, 65536)
        if not chunk:
            break
        buf += chunk.decode("utf-8", "replace")
        while True:
            buf = buf.lstrip()
            try:
                obj, end = dec.raw_decode(buf)
            except ValueError:
                break
            buf = buf[end:]
            emit(obj)


def follow(path):
    while not os.path.exists(path):
        time.sleep(0.01)
    buf = b""
    with open(path, "rb") as f:
        while True:
            chunk = f.read(65536)
            if not chunk:
                time.sleep(0.002)
                continue
            buf += chunk
            while b"\n" in buf:
                line, buf = buf.split(b"\n", 1)
                try:
                    emit(json.loads(line))
                except ValueError:
                    pass


def record_lines(prefix, path):
    """{text: (capture time, arrival time)} of the lines in AuditRecords."""
    out = {}
    for line in open(path):
        d = json.loads(line)
        for e in d["o"].get("spec", {}).get("entries", []):
            if e.get("kind") == "line" and e.get("text", "").startswith(prefix):
                out.setdefault(e["text"], (wall(e["time"]), d["t"]))
    return out


def span_rate(cap):
    span = max(cap) - min(cap) if len(cap) > 1 else 0
    return (len(cap) - 1) / span if span else 0


def report(prefix, n, records, events):
    rec = record_lines(prefix, records)
    ev = {}
    for line in open(events):
        d = json.loads(line)
        # "(unattributed): LINE": the shells here are started on the node.
        note = d["o"].get("note", "")
        if note.startswith("(unattributed): "):
            note = note[len("(unattributed): "):]
        if d["o"].get("reason") == "ShellCommand" and note.startswith(prefix):
            ev.setdefault(note, d["t"])
    lr = [a - c for c, a in rec.values()]
    le = [ev[t] - rec[t][0] for t in ev if t in rec]
    print("  %d lines typed, %d in AuditRecords, %d Events; typed at %.0f lines/s" %
          (n, len(rec), len(ev), span_rate([c for c, _ in rec.values()])))
    print("  capture to AuditRecord: median %.3f s, p99 %.3f s" % (quantile(lr, .5), quantile(lr, .99)))
    print("  capture to Event:       median %.3f s, p99 %.3f s" % (quantile(le, .5), quantile(le, .99)))
    # Where the time goes: the latency of the lines at each tenth of the
    # burst (a constant offset is a wait; a rising one a queue).
    tl = sorted((rec[t][0], ev[t] - rec[t][0]) for t in ev if t in rec)
    if tl:
        at = [tl[int(i * (len(tl) - 1) / 10)] for i in range(11)]
        print("  capture to Event along the burst (s after its start: latency):",
              " ".join("%.2f:%.2f" % (c - tl[0][0], lat) for c, lat in at))
    print("P99 %.3f %.3f" % (quantile(lr, .99), quantile(le, .99)))
    print("RESULT %d %d" % (len(rec), len(ev)))


def post(server, d, ns, prefix, n, rate, conc):
    import http.client
    import ssl
    import threading
    host, port = server.split("://")[1].split(":")
    ctx = ssl.create_default_context(cafile=os.path.join(d, "ca"))
    ctx.load_cert_chain(os.path.join(d, "cert"), os.path.join(d, "key"))
    ctx.check_hostname = False
    lock, nxt, t0 = threading.Lock(), [0], time.time() + 0.5
    path = "/apis/events.k8s.io/v1/namespaces/%s/events" % ns

    def worker():
        c = http.client.HTTPSConnection(host, int(port), context=ctx)
        while True:
            with lock:
                i = nxt[0]
                nxt[0] += 1
            if i >= n:
                return
            due = t0 + i / rate
            if due > time.time():
                time.sleep(due - time.time())
            now = datetime.datetime.now(datetime.timezone.utc)
            body = json.dumps({
                "apiVersion": "events.k8s.io/v1", "kind": "Event",
                "metadata": {"name": "bench-%s%d" % (prefix.replace(" ", "-"), i), "namespace": ns},
                "eventTime": now.strftime("%Y-%m-%dT%H:%M:%S.%fZ"),
                "reportingController": "shellaudit.io/bench", "reportingInstance": "bench",
                "action": "Typed", "reason": "ShellCommand", "type": "Normal",
                "regarding": {"apiVersion": "v1", "kind": "Pod", "namespace": ns, "name": "bench"},
                "note": "%s%d" % (prefix, i)})
            c.request("POST", path, body, {"Content-Type": "application/json"})
            c.getresponse().read()
            with lock:
                print("DUE %s%d %.6f" % (prefix, i, due), flush=True)

    th = [threading.Thread(target=worker) for _ in range(conc)]
    for t in th:
        t.start()
    for t in th:
        t.join()


def postreport(prefix, due, events):
    sent = {}
    for line in open(due):
        _, note, t = line.split()
        sent[note] = float(t)
    seen = {}
    for line in open(events):
        d = json.loads(line)
        note = d["o"].get("note", "")
        if note.startswith(prefix) and note in sent:
            seen.setdefault(note, d["t"] - sent[note])
    v = list(seen.values())
    print("  %d of %d Events seen; due to Event seen: median %.3f s, p99 %.3f s" %
          (len(v), len(sent), quantile(v, .5), quantile(v, .99)))
    print("P99 %.3f" % quantile(v, .99))
    print("RESULT %d" % len(v))


def export(prefix, n, stamped):
    lat = {}
    for line in open(stamped):
        d = json.loads(line)
        o = d["o"]
        if o.get("kind") == "line" and o.get("text", "").startswith(prefix):
            lat.setdefault(o["text"], d["t"] - wall(o["time"]))
    v = list(lat.values())
    print("  %d of %d lines exported; capture to export line: median %.3f s, p99 %.3f s, max %.3f s" %
          (len(v), n, quantile(v, .5), quantile(v, .99), max(v) if v else float("nan")))
    print("P99 %.3f" % quantile(v, .99))
    print("RESULT %d" % len(v))


def count(prefix, records):
    print(len(record_lines(prefix, records)))


def smaps(pid):
    maps = files = anon = 0
    kind = "anon"
    for line in open("/proc/%s/smaps" % pid):
        f = line.split()
        if not f:
            continue
        if not f[0].endswith(":"):  # a mapping's header: range perms offset dev inode [path]
            path = f[5] if len(f) > 5 else ""
            kind = ("maps" if "bpf-map" in path else
                    "files" if path.startswith("/") else "anon")  # [heap], [stack] are anon
        elif f[0] == "Rss:":
            n = int(f[1])
            if kind == "maps":
                maps += n
            elif kind == "files":
                files += n
            else:
                anon += n
    print(maps, files, anon)


def cpu_times():
    """{name: CPU ticks} of every process, kernel threads included (a
    kworker is named by its last work), and {pid: (name, ticks)}."""
    per = {}
    for p in os.listdir("/proc"):
        if not p.isdigit():
            continue
        try:
            with open("/proc/%s/stat" % p) as f:
                s = f.read()
        except OSError:
            continue
        name = s[s.index("(") + 1:s.rindex(")")]
        f = s[s.rindex(")") + 2:].split()
        per[p] = (name, int(f[11]) + int(f[12]))
    return per


def cpusnap(path):
    with open(path, "w") as f:
        json.dump({"t": time.time(), "pids": cpu_times()}, f)


def cpu(path):
    with open(path) as f:
        before = json.load(f)
    secs = time.time() - before["t"]
    hz = os.sysconf("SC_CLK_TCK")
    by = {}
    for p, (name, ticks) in cpu_times().items():
        # By pid: a kworker changes its name with its work, and its
        # ticks since boot are not this run's.
        old = before["pids"].get(p)
        by[name] = by.get(name, 0) + ticks - (old[1] if old and old[1] <= ticks else 0)
    busy = sorted(by.items(), key=lambda x: -x[1])[:8]
    print("  CPU in these %.1f s (%% of one core): " % secs +
          ", ".join("%s %.0f" % (n, 100.0 * t / hz / secs) for n, t in busy if t > 0))


def api_posts(path):
    """{resource: (seconds, count)} of the API server's POSTs in a text
    of its /metrics (apiserver_request_duration_seconds)."""
    got = {}
    with open(path) as f:
        for line in f:
            if not line.startswith("apiserver_request_duration_seconds_"):
                continue
            name, _, value = line.rpartition(" ")
            if 'verb="POST"' not in name or 'subresource=""' not in name:
                continue
            res = name.split('resource="', 1)[1].split('"', 1)[0]
            s, n = got.get(res, (0.0, 0))
            if name.startswith("apiserver_request_duration_seconds_sum{"):
                got[res] = (s + float(value), n)
            elif name.startswith("apiserver_request_duration_seconds_count{"):
                got[res] = (s, n + int(float(value)))
    return got


def apitime(before, after):
    b, a = api_posts(before), api_posts(after)
    out = []
    for res, label in (("auditrecords", "AuditRecord"), ("events", "Event")):
        s = a.get(res, (0.0, 0))[0] - b.get(res, (0.0, 0))[0]
        n = a.get(res, (0.0, 0))[1] - b.get(res, (0.0, 0))[1]
        if n > 0:
            out.append("%s %.0f ms (%d)" % (label, 1000 * s / n, n))
    print("  the API server's own mean time per create: " + (", ".join(out) or "none"))


def slow(port, n):
    import selectors
    sel = selectors.DefaultSelector()
    reopened = reported = 0
    request = b"GET /metrics HTTP/1.1\r\nHost: bench\r\nX-Slow: " + b"a" * 1000000

    def connect(i):
        """A connection, or None when the server did not take it in 5 s."""
        try:
            s = socket.create_connection(("127.0.0.1", port), timeout=5)
        except OSError:
            return None
        s.setblocking(False)
        sel.register(s, selectors.EVENT_READ, i)
        return s

    socks = [connect(i) for i in range(n)]
    print("ready %d of %d connected" % (sum(s is not None for s in socks), n), flush=True)
    sent = 0
    next_byte = time.monotonic()
    while True:
        for key, _ in sel.select(timeout=max(0, next_byte - time.monotonic())):
            s, i = key.fileobj, key.data
            try:
                data = s.recv(65536)
            except BlockingIOError:
                continue
            except OSError:
                data = b""
            if not data:  # the server closed it: another at the next tick
                sel.unregister(s)
                s.close()
                socks[i] = None
                reopened += 1
                if i == 0:
                    sent = 0
        if time.monotonic() >= next_byte:
            for i in range(n):  # those the server closed or did not take
                if socks[i] is None:
                    socks[i] = connect(i)
            try:
                socks[0].send(request[sent:sent + 1])
                sent += 1
            except (OSError, AttributeError):
                pass
            next_byte += 0.5
            if reopened != reported:
                print("reopened %d" % reopened, flush=True)
                reported = reopened


def main():
    cmd, args = sys.argv[1], sys.argv[2:]
    if cmd == "stamp":
        stamp()
    elif cmd == "follow":
        follow(args[0])
    elif cmd == "report":
        report(args[0], int(args[1]), args[2], args[3])
    elif cmd == "export":
        export(args[0], int(args[1]), args[2])
    elif cmd == "count":
        count(args[0], args[1])
    elif cmd == "post":
        post(args[0], args[1], args[2], args[3], int(args[4]), float(args[5]), int(args[6]))
    elif cmd == "postreport":
        postreport(args[0], args[1], args[2])
    elif cmd == "smaps":
        smaps(args[0])
    elif cmd == "cpusnap":
        cpusnap(args[0])
    elif cmd == "cpu":
        cpu(args[0])
    elif cmd == "apitime":
        apitime(args[0], args[1])
    elif cmd == "slow":
        slow(int(args[0]), int(args[1]))
    else:
        sys.exit("pipeline.py: unknown command " + cmd)


if __name__ == "__main__":
    try:
        main()
    except (BrokenPipeError, KeyboardInterrupt):
        pass
