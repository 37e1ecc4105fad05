#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""What a cluster admin can do to AuditRecords once the admission policy is
out of the way, for test_records.sh. Reads and writes JSON files; the shell
runs kubectl.

  tamper.py digest FILE             the record's digest, recomputed as lib/digest.c
                                    does (canonical JSON, SHA-256)
  tamper.py pick FILE POD CONTAINER  the records of one container, by sequence,
                                    one JSON object per line (FILE: kubectl get -o json)
  tamper.py clean FILE              a record as kubectl create takes it (no server fields)
  tamper.py edit FILE TEXT          the record with its first entry's text changed and
                                    its digest recomputed (the signature is kept)
  tamper.py relink FILE DIGEST      the record linked to DIGEST, its digest recomputed
  tamper.py swap FILE OTHER         the record with OTHER's signature
  tamper.py forge FILE NODE         the record rewritten as NODE's: spec.node, digest
                                    and a name ending in it (a well-formed signature)
  tamper.py make NS POD NODE RETENTION [BYTES]  a new record as an agent would create it
                                    (name, finalizer, its size in shellaudit.io/bytes, or
                                    BYTES as given; a well-formed signature no key made)
"""
import base64
import hashlib
import json
import sys


def canon(v):
    if v is None:
        return "null"
    if v is True:
        return "true"
    if v is False:
        return "false"
    if isinstance(v, (int, float)):
        if v != int(v):
            raise ValueError("no canonical form for %r" % v)
        return str(int(v))
    if isinstance(v, str):
        out = ['"']
        for c in v:
            if c in '"\\':
                out.append("\\" + c)
            elif ord(c) < 0x20:
                out.append("\\u%04x" % ord(c))
            else:
                out.append(c)
        out.append('"')
        return "".join(out)
    if isinstance(v, list):
        return "[" + ",".join(canon(x) for x in v) + "]"
    keys = sorted(v, key=lambda k: k.encode())
    return "{" + ",".join(canon(k) + ":" + canon(v[k]) for k in keys) + "}"


def digest(spec):
    body = {k: v for k, v in spec.items() if k not in ("digest", "signature")}
    return "sha256:" + hashlib.sha256(canon(body).encode()).hexdigest()


def load(path):
    with open(path) as f:
        return json.load(f)


def clean(rec):
    md = rec["metadata"]
    keep = {k: md[k] for k in ("name", "namespace", "labels", "annotations", "finalizers") if k in md}
    return {"apiVersion": rec["apiVersion"], "kind": rec["kind"], "metadata": keep, "spec": rec["spec"]}


def rename(rec):
    name = rec["metadata"]["name"]
    base = name.rsplit("-", 1)[0]
    rec["metadata"]["name"] = base + "-" + rec["spec"]["digest"][7:17]


def sized(rec):
    """The annotation shellaudit.io/bytes: the object's size as sent, itself included."""
    ann = rec["metadata"].setdefault("annotations", {})
    ann["shellaudit.io/bytes"] = "0"
    n = len(json.dumps(rec, separators=(",", ":")).encode()) - 1
    d = 1
    while len(str(n + d)) != d:
        d += 1
    ann["shellaudit.io/bytes"] = str(n + d)
    return rec


def make(ns, pod, node, retention, size=None):
    spec = {"pod": {"name": pod, "uid": "00000000-0000-4000-8000-00000000abcd"},
            "container": "main", "containerID": "containerd://" + hashlib.sha256(pod.encode()).hexdigest(),
            "node": node, "retention": retention, "sequence": 0, "entryCount": 1,
            "entries": [{"time": "2026-11-25T00:00:00Z", "kind": "line", "text": "probe"}]}
    spec["digest"] = digest(spec)
    spec["signature"] = {"keyID": "ed25519:0123456789abcdef", "value": base64.b64encode(bytes(64)).decode()}
    rec = sized({"apiVersion": "shellaudit.io/v1alpha1", "kind": "AuditRecord",
                 "metadata": {"name": pod + "-main-0-" + spec["digest"][7:17], "namespace": ns,
                              "finalizers": ["shellaudit.io/retention"]},
                 "spec": spec})
    if size is not None:
        rec["metadata"]["annotations"]["shellaudit.io/bytes"] = size
    return rec


def main():
    cmd = sys.argv[1]
    if cmd == "make":
        print(json.dumps(make(*sys.argv[2:7])))
        return
    path = sys.argv[2]
    rec = load(path)
    if cmd == "digest":
        print(digest(rec["spec"]))
    elif cmd == "pick":
        items = [r for r in rec["items"]
                 if r["spec"]["pod"]["name"] == sys.argv[3] and r["spec"]["container"] == sys.argv[4]]
        for r in sorted(items, key=lambda r: r["spec"]["sequence"]):
            print(json.dumps(r))
    elif cmd == "clean":
        print(json.dumps(clean(rec)))
    elif cmd == "edit":
        rec = clean(rec)
        rec["spec"]["entries"][0]["text"] = sys.argv[3]
        rec["spec"]["digest"] = digest(rec["spec"])
        print(json.dumps(rec))
    elif cmd == "relink":
        rec = clean(rec)
        rec["spec"]["previousDigest"] = sys.argv[3]
        rec["spec"]["digest"] = digest(rec["spec"])
        print(json.dumps(rec))
    elif cmd == "swap":
        rec = clean(rec)
        rec["spec"]["signature"] = load(sys.argv[3])["spec"]["signature"]
        print(json.dumps(rec))
    elif cmd == "forge":
        rec = clean(rec)
        rec["spec"]["node"] = sys.argv[3]
        rec["spec"]["digest"] = digest(rec["spec"])
        rec["spec"]["signature"] = {"keyID": "ed25519:0123456789abcdef",
                                    "value": base64.b64encode(bytes(64)).decode()}
        rename(rec)
        print(json.dumps(rec))
    else:
        sys.exit("unknown command " + cmd)


main()
