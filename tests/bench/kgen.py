#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""The object generator of scale.md (reviews/scale.md, "How it was measured"),
for the controller benchmark and the controller's hostile tests: namespaces,
Node objects, pods bound to them with running container IDs in their status,
50 policies selecting every pod 1 to 7 times, and AuditRecords. Objects are
created over many parallel keep-alive HTTPS connections with the admin
client certificate of $KUBECONFIG (no kubectl: a process per object is far
too slow at 100,000 pods).

  kgen.py namespaces                      ns-00..ns-19 (+ ServiceAccounts), shellaudit-system
  kgen.py nodes N                         node-000.. as API objects
  kgen.py pods FIRST COUNT [--small] [--no-status]
                                          pod i in ns-(i%20) on node-(i%500)
  kgen.py policies                        pol-00..pol-48 and pol-all
  kgen.py edit-pol-00 | edit-pol-all      the two re-targeting edits of scale.md
  kgen.py restore POLICY                  that one as generated
  kgen.py reset                           no ShellAuditNodes, no policy status
  kgen.py hammer-status POLICY SECS TAG   another writer of that policy's status
  kgen.py records NS COUNT [--lt N] [--retention R] [--expires-in S]
  kgen.py expect FIRST COUNT SMALLFROM OUT [start|edit|all]
                                          expected target lines (expected.py), with
                                          the live policies or the generator's
  kgen.py rewrite-nodes METHOD CONNS      the reference: every ShellAuditNode's spec
                                          written once more by this trivial client
                                          (METHOD merge: a merge patch of the spec,
                                          put: the whole object), each target's
                                          policies with or without "pol-ref", over
                                          CONNS connections; prints seconds taken
  kgen.py converge WANT TIMEOUT            watch ShellAuditNodes and policies until
                                          they equal WANT; prints seconds taken
                                          (since $KGEN_SINCE, an epoch, if set)
"""
import base64
import http.client
import json
import os
import queue
import ssl
import sys
import tempfile
import threading
import time
import urllib.parse

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "integration", "controller"))
import expected  # noqa: E402  (the independent computation of the tests)

NODES = int(os.environ.get("KGEN_NODES", "500"))
NAMESPACES = 20
THREADS = int(os.environ.get("KGEN_THREADS", "8"))
GROUP = "/apis/shellaudit.io/v1alpha1"


class Kube:
    """The server and the admin client certificate of $KUBECONFIG (the
    form hack/cluster.sh writes: one cluster, one user, inline data)."""

    @staticmethod
    def config():
        path = os.environ["KUBECONFIG"]
        text = open(path).read()
        vals = {}
        for line in text.splitlines():
            line = line.strip()
            for key in ("server", "certificate-authority-data", "client-certificate-data",
                        "client-key-data"):
                if line.startswith(key + ":"):
                    vals[key] = line.split(":", 1)[1].strip()
        tmp = tempfile.mkdtemp(prefix="kgen.")
        files = {}
        for key in ("certificate-authority-data", "client-certificate-data", "client-key-data"):
            files[key] = os.path.join(tmp, key)
            with open(files[key], "wb") as f:
                f.write(base64.b64decode(vals[key]))
        ctx = ssl.create_default_context(cafile=files["certificate-authority-data"])
        ctx.load_cert_chain(files["client-certificate-data"], files["client-key-data"])
        for f in files.values():
            os.unlink(f)
        os.rmdir(tmp)
        u = urllib.parse.urlparse(vals["server"])
        return u.hostname, u.port or 443, ctx


HOST, PORT, CTX = None, None, None


def connect():
    global HOST, PORT, CTX
    if HOST is None:
        HOST, PORT, CTX = Kube.config()
    return http.client.HTTPSConnection(HOST, PORT, context=CTX, timeout=120)


def request(conn, method, path, body=None, ctype="application/json", accept="application/json"):
    """One request on a keep-alive connection; reconnects once on a broken one."""
    data = json.dumps(body, separators=(",", ":")).encode() if isinstance(body, (dict, list)) else body
    headers = {"Content-Type": ctype, "Accept": accept}
    for attempt in range(5):
        try:
            conn.request(method, path, body=data, headers=headers)
            resp = conn.getresponse()
            out = resp.read()
            if resp.status == 429 or resp.status >= 500:
                time.sleep(0.5 * (attempt + 1))
                continue
            return resp.status, out
        except (http.client.HTTPException, OSError):
            conn.close()
            time.sleep(0.2)
            conn.connect()
    return 0, b""


def parallel(jobs, fn, threads=THREADS):
    """Runs fn(conn, job) for every job over `threads` connections."""
    q = queue.Queue()
    for j in jobs:
        q.put(j)
    errors = []

    def worker():
        conn = connect()
        while True:
            try:
                j = q.get_nowait()
            except queue.Empty:
                break
            try:
                fn(conn, j)
            except Exception as e:  # noqa: BLE001  (reported below)
                errors.append(repr(e))
        conn.close()

    ts = [threading.Thread(target=worker) for _ in range(threads)]
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    if errors:
        sys.stderr.write("kgen: %d errors, first: %s\n" % (len(errors), errors[0]))
        sys.exit(1)


def must(status, out, ok=(200, 201), what=""):
    if status not in ok and status != 409:
        raise RuntimeError("%s: HTTP %d %s" % (what, status, out[:300]))


# --- objects ------------------------------------------------------------------

ENVS = ["prod", "dev", "staging"]


def ns_objects():
    out = []
    for n in range(NAMESPACES):
        out.append({"apiVersion": "v1", "kind": "Namespace",
                    "metadata": {"name": "ns-%02d" % n,
                                 "labels": {"env": ENVS[n % 3], "team": "team-%d" % (n % 5)}}})
    return out


def pod_object(i, small):
    ns, node = "ns-%02d" % (i % NAMESPACES), "node-%03d" % (i % NODES)
    if small:
        labels = {"app": "app-%d" % (i % 10), "shard": "s-%d" % (i % 50)}
        names = ["main"]
    else:
        labels = {"app": "app-%d" % (i % 10), "tier": ["web", "api", "db"][i % 3],
                  "shard": "s-%d" % (i % 50), "track": "canary" if i % 7 == 0 else "stable"}
        names = ["main"] + (["sidecar"] if i % 4 == 0 else [])
    pod = {"apiVersion": "v1", "kind": "Pod",
           "metadata": {"name": "pod-%06d" % i, "namespace": ns, "labels": labels},
           "spec": {"nodeName": node, "automountServiceAccountToken": False,
                    "containers": [{"name": c, "image": "busybox"} for c in names]}}
    status = {"phase": "Running", "containerStatuses": [
        {"name": c, "containerID": "containerd://%064x" % (i * 4 + k), "image": "busybox",
         "imageID": "", "ready": True, "restartCount": 0,
         "state": {"running": {"startedAt": "2026-11-25T00:00:00Z"}}}
        for k, c in enumerate(names)]}
    return pod, status


def policies():
    """50 policies; every pod of pod_object() is selected by 1 to 7 of them."""
    pols = []

    def pol(name, spec):
        pols.append({"apiVersion": "shellaudit.io/v1alpha1", "kind": "ShellAuditPolicy",
                     "metadata": {"name": name}, "spec": spec})
    for k in range(10):  # exactly one per pod
        spec = {"podSelector": {"matchLabels": {"app": "app-%d" % k}}}
        if k % 3 == 1:
            spec["capture"] = {"readline": True, "exec": False}
        if k % 3 == 2:
            spec["events"] = {"ratePerMinute": 30 + k, "execEvents": True}
        pol("pol-%02d" % k, spec)
    for k in range(10):  # at most one: five shards each, some for main only
        spec = {"podSelector": {"matchExpressions": [
            {"key": "shard", "operator": "In", "values": ["s-%d" % (5 * k + j) for j in range(5)]}]}}
        if k % 2 == 0:
            spec["containers"] = ["main"]
        if k % 4 == 1:
            spec["retention"] = "%dh" % (100 + k)
        pol("pol-%02d" % (10 + k), spec)
    for k in range(3):  # canary pods of one environment
        pol("pol-%02d" % (20 + k), {
            "namespaceSelector": {"matchLabels": {"env": ENVS[k]}},
            "podSelector": {"matchLabels": {"track": "canary"}},
            "events": {"enabled": k != 1}})
    for k in range(5):  # one team's namespaces, not the db tier
        pol("pol-%02d" % (23 + k), {
            "namespaceSelector": {"matchExpressions": [
                {"key": "team", "operator": "In", "values": ["team-%d" % k]}]},
            "podSelector": {"matchExpressions": [
                {"key": "tier", "operator": "NotIn", "values": ["db"]}]},
            "capture": {"readline": True, "exec": k % 2 == 0}})
    for k in range(20):  # two shards each: shards 0..39
        spec = {"podSelector": {"matchExpressions": [
            {"key": "shard", "operator": "In", "values": ["s-%d" % (2 * k), "s-%d" % (2 * k + 1)]},
            {"key": "app", "operator": "Exists"}]}}
        if k % 5 == 0:
            spec["redact"] = [{"name": "token", "pattern": "token=\\S+"},
                              {"name": "pw-%d" % k, "pattern": "password=\\S+", "replacement": "***"}]
        pol("pol-%02d" % (28 + k), spec)
    pol("pol-48", {"podSelector": {"matchLabels": {"tier": "web"}},
                   "redact": [{"name": "aws", "pattern": "AKIA[0-9A-Z]{16}"}], "retention": "2000h"})
    pol("pol-all", {"podSelector": {"matchLabels": {"app": "none"}}})
    return pols


def edited(pols, which):
    pols = json.loads(json.dumps(pols))
    for p in pols:
        if which == "pol-00" and p["metadata"]["name"] == "pol-00":
            p["spec"]["podSelector"] = {"matchExpressions": [{"key": "app", "operator": "Exists"}]}
        if which == "pol-all" and p["metadata"]["name"] == "pol-all":
            p["spec"]["podSelector"] = {}
    return pols


# --- commands -----------------------------------------------------------------

def cmd_namespaces():
    conn = connect()
    for ns in ns_objects() + [{"apiVersion": "v1", "kind": "Namespace",
                               "metadata": {"name": "shellaudit-system"}}]:
        must(*request(conn, "POST", "/api/v1/namespaces", ns), what="namespace")
        name = ns["metadata"]["name"]
        # No kube-controller-manager: the ServiceAccount pods need.
        must(*request(conn, "POST", "/api/v1/namespaces/%s/serviceaccounts" % name,
                      {"apiVersion": "v1", "kind": "ServiceAccount",
                       "metadata": {"name": "default"}}), what="serviceaccount")


def cmd_nodes(n):
    def one(conn, i):
        must(*request(conn, "POST", "/api/v1/nodes", {
            "apiVersion": "v1", "kind": "Node", "metadata": {"name": "node-%03d" % i}}), what="node")
    parallel(range(n), one)


def cmd_pods(first, count, small, no_status=False):
    def one(conn, i):
        pod, status = pod_object(i, small)
        ns, name = pod["metadata"]["namespace"], pod["metadata"]["name"]
        must(*request(conn, "POST", "/api/v1/namespaces/%s/pods" % ns, pod), what=name)
        if no_status:
            return
        must(*request(conn, "PATCH", "/api/v1/namespaces/%s/pods/%s/status" % (ns, name),
                      {"status": status}, ctype="application/merge-patch+json"), what=name)
    parallel(range(first, first + count), one)


def cmd_policies(which=None, only=None):
    """Writes the policies (all, or `only` one) as generated, or with the
    edit `which` applied to that one."""
    pols = policies()
    if which:
        pols = edited(edited(pols, "pol-00"), which) if which == "pol-all" else edited(pols, which)
        only = which
    conn = connect()
    for p in pols:
        name = p["metadata"]["name"]
        if only and name != only:
            continue
        st, out = request(conn, "GET", GROUP + "/shellauditpolicies/" + name)
        if st == 200:
            p["metadata"]["resourceVersion"] = json.loads(out)["metadata"]["resourceVersion"]
            must(*request(conn, "PUT", GROUP + "/shellauditpolicies/" + name, p), what=name)
        else:
            must(*request(conn, "POST", GROUP + "/shellauditpolicies", p), what=name)


def cmd_hammer_status(name, seconds, tag):
    """Another writer of a policy's status: replaces its conditions with
    one of its own as fast as it can for `seconds`, then once more with
    reason Final<tag>: the last word the controller must keep."""
    conn = connect()
    path = GROUP + "/shellauditpolicies/%s/status" % name

    def cond(reason):
        return {"status": {"conditions": [{
            "type": "External", "status": "True", "reason": reason, "message": "x",
            "lastTransitionTime": "2026-11-25T00:00:00Z"}]}}
    end = time.time() + seconds
    while time.time() < end:
        must(*request(conn, "PATCH", path, cond("Round" + tag), ctype="application/merge-patch+json"),
             what=name)
    must(*request(conn, "PATCH", path, cond("Final" + tag), ctype="application/merge-patch+json"),
         what=name)


def cmd_reset():
    """No ShellAuditNodes and no policy status: a controller's first sync."""
    conn = connect()
    must(*request(conn, "DELETE", GROUP + "/shellauditnodes"), what="delete nodes")
    st, body = request(conn, "GET", GROUP + "/shellauditpolicies")
    for p in json.loads(body)["items"]:
        must(*request(conn, "PATCH", GROUP + "/shellauditpolicies/%s/status" % p["metadata"]["name"],
                      {"status": None}, ctype="application/merge-patch+json"), what="status")
    while True:
        st, body = request(conn, "GET", GROUP + "/shellauditnodes?limit=1")
        if not json.loads(body)["items"]:
            return
        time.sleep(0.5)


def record_object(ns, i, lt, retention, expires_in):
    entries = []
    left = lt
    while left > 0 or not entries:
        n = min(left, 4096)
        entries.append({"time": "2026-11-25T00:00:00Z", "kind": "line",
                        "text": "<" * n if n else "ls", "pid": 10, "uid": 0})
        left -= n
    # As the agent makes them: held by the retention finalizer, signed
    # (the CRD requires a signature; nothing here checks it).
    md = {"name": "rec-%07d" % i, "namespace": ns, "finalizers": ["shellaudit.io/retention"]}
    if expires_in is not None:
        t = time.gmtime(time.time() + expires_in)
        md["annotations"] = {"shellaudit.io/expires-at": time.strftime("%Y-%m-%dT%H:%M:%SZ", t)}
    return {"apiVersion": "shellaudit.io/v1alpha1", "kind": "AuditRecord", "metadata": md,
            "spec": {"pod": {"name": "pod-x", "uid": "00000000-0000-4000-8000-000000000002"},
                     "container": "main", "containerID": "containerd://%064x" % i,
                     "node": "node-000", "policies": ["pol-00"], "retention": retention,
                     "session": {"id": "1", "pid": 10, "start": "2026-11-25T00:00:00Z"},
                     "sequence": 0, "entryCount": len(entries), "entries": entries,
                     "digest": "sha256:" + "0" * 64,
                     "signature": {"keyID": "ed25519:0123456789abcdef",
                                   "value": base64.b64encode(bytes(range(64))).decode()}}}


def cmd_records(ns, count, lt, retention, expires_in, first=0):
    def one(conn, i):
        rec = record_object(ns, i, lt, retention, expires_in)
        must(*request(conn, "POST", GROUP + "/namespaces/%s/auditrecords" % ns, rec),
             what=rec["metadata"]["name"])
    parallel(range(first, first + count), one)


def cmd_expect(first, count, small_from, out, which=None):
    """Expected target lines for pods [first, first+count), pods at or past
    small_from being --small, with the policies as they are now, or as
    this generator makes them (which: start, edit or all)."""
    if which:
        pols = policies()
        if which in ("edit", "all"):
            pols = edited(pols, "pol-00")
        if which == "all":
            pols = edited(pols, "pol-all")
    else:
        conn = connect()
        st, body = request(conn, "GET", GROUP + "/shellauditpolicies")
        pols = json.loads(body)["items"]
    nss = ns_objects()
    pods = []
    for i in range(first, first + count):
        pod, status = pod_object(i, i >= small_from)
        pod["status"] = status
        pods.append(pod)
    lines, status = expected.expected(pols, nss, pods)
    with open(out, "w") as f:
        f.write("\n".join(lines) + "\n")
    with open(out + ".status", "w") as f:
        for name in sorted(status):
            f.write("%s %d %d\n" % (name, status[name][0], len(status[name][1])))


def cmd_rewrite_nodes(method, conns):
    """The API server's own pace for the re-targeting write of every node:
    the same objects, the same sizes and the same conditional writes as the
    controller's, from a client that computes nothing."""
    conn = connect()
    st, body = request(conn, "GET", GROUP + "/shellauditnodes")
    must(st, body, what="list")
    objs = json.loads(body)["items"]
    for o in objs:
        for t in o["spec"].get("targets", []):
            if "pol-ref" in t["policies"]:
                t["policies"].remove("pol-ref")
            else:
                t["policies"].append("pol-ref")
    jobs = []
    for o in objs:
        name = o["metadata"]["name"]
        rv = o["metadata"]["resourceVersion"]
        if method == "put":
            obj = {"apiVersion": o["apiVersion"], "kind": o["kind"],
                   "metadata": {"name": name, "resourceVersion": rv}, "spec": o["spec"]}
            jobs.append(("PUT", name, json.dumps(obj, separators=(",", ":")).encode(),
                         "application/json"))
        else:
            obj = {"metadata": {"resourceVersion": rv}, "spec": o["spec"]}
            jobs.append(("PATCH", name, json.dumps(obj, separators=(",", ":")).encode(),
                         "application/merge-patch+json"))

    def one(c, job):
        m, name, data, ctype = job
        must(*request(c, m, GROUP + "/shellauditnodes/" + name, data, ctype=ctype), what=name)

    start = time.time()
    parallel(jobs, one, threads=conns)
    print("%.1f" % (time.time() - start))


def watch_lines(path, accept="application/json"):
    """(type, object) from a watch, after the initial list (as ADDED events)."""
    conn = connect()
    conn.request("GET", path + ("&" if "?" in path else "?") + "watch=1&allowWatchBookmarks=true",
                 headers={"Accept": accept})
    resp = conn.getresponse()
    conn.sock.settimeout(None)  # an idle watch is no error
    while True:
        line = resp.readline()
        if not line:
            return
        ev = json.loads(line)
        yield ev["type"], ev["object"]


def cmd_converge(want_path, timeout):
    """Seconds from now until every ShellAuditNode equals the expected
    lines and every policy's status says the expected counts for its
    generation; exit 1 on timeout. Watches, no polling."""
    want = {}
    for line in open(want_path).read().split("\n"):
        if line:
            want.setdefault(line.split("|", 1)[0], []).append(line)
    for v in want.values():
        v.sort()
    want_status = {}
    for line in open(want_path + ".status"):
        name, matched, nodes = line.split()
        want_status[name] = (int(matched), int(nodes))
    start = float(os.environ.get("KGEN_SINCE", "0")) or time.time()
    state = {"nodes": {}, "pols": {}, "done": None}
    lock = threading.Lock()

    def check():
        ok_nodes = all(state["nodes"].get(n) == v for n, v in want.items()) and \
            all(n in want for n, v in state["nodes"].items() if v)
        ok_pols = all(state["pols"].get(n) == v for n, v in want_status.items())
        if ok_nodes and ok_pols and state["done"] is None:
            state["done"] = time.time() - start

    def follow(path, key, fn):
        while True:  # a watch the server ends is started again
            try:
                for typ, obj in watch_lines(path):
                    if typ == "BOOKMARK":
                        continue
                    with lock:
                        name = obj["metadata"]["name"]
                        if typ == "DELETED":
                            state[key].pop(name, None)
                        else:
                            state[key][name] = fn(obj)
                        check()
            except (OSError, http.client.HTTPException, ValueError):
                time.sleep(0.5)

    def pol_state(p):
        s = p.get("status") or {}
        if s.get("observedGeneration") != p["metadata"].get("generation"):
            return None
        return (s.get("matchedPods"), s.get("nodes"))

    for path, key, fn in ((GROUP + "/shellauditnodes", "nodes", lambda o: expected.actual([o])),
                          (GROUP + "/shellauditpolicies", "pols", pol_state)):
        threading.Thread(target=follow, args=(path, key, fn), daemon=True).start()
    while time.time() - start < timeout:
        with lock:
            if state["done"] is not None:
                print("%.1f" % state["done"])
                return
        time.sleep(0.1)
    with lock:
        bad = [n for n, v in want.items() if state["nodes"].get(n) != v]
        badp = [n for n, v in want_status.items() if state["pols"].get(n) != v]
    sys.stderr.write("kgen: not converged: %d nodes differ (%s), %d policies (%s)\n" %
                     (len(bad), ",".join(bad[:3]), len(badp), ",".join(badp[:3])))
    sys.exit(1)


def main():
    a = sys.argv[1:]
    if a[0] == "namespaces":
        cmd_namespaces()
    elif a[0] == "nodes":
        cmd_nodes(int(a[1]))
    elif a[0] == "pods":
        cmd_pods(int(a[1]), int(a[2]), "--small" in a, "--no-status" in a)
    elif a[0] == "policies":
        cmd_policies()
    elif a[0] == "reset":
        cmd_reset()
    elif a[0] == "hammer-status":
        cmd_hammer_status(a[1], float(a[2]), a[3])
    elif a[0] in ("edit-pol-00", "edit-pol-all"):
        cmd_policies(a[0][5:])
    elif a[0] == "restore":
        cmd_policies(only=a[1])
    elif a[0] == "records":
        opts = dict(zip(a[3::2], a[4::2]))
        cmd_records(a[1], int(a[2]), int(opts.get("--lt", "0")), opts.get("--retention", "720h"),
                    int(opts["--expires-in"]) if "--expires-in" in opts else None,
                    int(opts.get("--first", "0")))
    elif a[0] == "expect":
        cmd_expect(int(a[1]), int(a[2]), int(a[3]), a[4], a[5] if len(a) > 5 else None)
    elif a[0] == "rewrite-nodes":
        cmd_rewrite_nodes(a[1], int(a[2]))
    elif a[0] == "converge":
        cmd_converge(a[1], float(a[2]))
    else:
        sys.exit("kgen: unknown command " + a[0])


if __name__ == "__main__":
    main()
