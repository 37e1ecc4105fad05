#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""An independent computation of what the ShellAuditNodes and the policy
status should say, from `kubectl get -o json` of policies, namespaces and
pods; and the same summary of what they do say, for comparison.

  expected.py targets POLICIES NAMESPACES PODS   -> expected target lines
  expected.py actual SANS                        -> actual target lines
  expected.py status POLICIES NAMESPACES PODS    -> expected "policy matched nodes"
"""
import json
import re
import sys

UNITS = {"h": 3600, "m": 60, "s": 1}


def load(path):
    with open(path) as f:
        return json.load(f)["items"]


def seconds(d):
    return sum(int(n) * UNITS[u] for n, u in re.findall(r"(\d+)([hms])", d))


def selects(sel, labels):
    """metav1.LabelSelector semantics; None selects nothing."""
    if sel is None:
        return False
    labels = labels or {}
    for k, v in (sel.get("matchLabels") or {}).items():
        if labels.get(k) != v:
            return False
    for e in sel.get("matchExpressions") or []:
        k, op, vals = e["key"], e["operator"], e.get("values") or []
        if op == "In" and labels.get(k) not in vals:
            return False
        if op == "NotIn" and k in labels and labels[k] in vals:
            return False
        if op == "Exists" and k not in labels:
            return False
        if op == "DoesNotExist" and k in labels:
            return False
    return True


def policy_matches(pol, ns_labels, pod):
    spec = pol["spec"]
    nsel = spec.get("namespaceSelector")
    if nsel is not None and not selects(nsel, ns_labels):
        return False
    return selects(spec.get("podSelector"), pod["metadata"].get("labels"))


def running_containers(pod):
    st = pod.get("status") or {}
    for key in ("containerStatuses", "initContainerStatuses", "ephemeralContainerStatuses"):
        for cs in st.get(key) or []:
            if cs.get("containerID") and "running" in (cs.get("state") or {}):
                yield cs["name"], cs["containerID"]


def expected(pols, nss, pods):
    ns_labels = {n["metadata"]["name"]: n["metadata"].get("labels") or {} for n in nss}
    pols = sorted(pols, key=lambda p: p["metadata"]["name"])
    lines, status = [], {}
    for p in pols:
        status[p["metadata"]["name"]] = [0, set()]
    for pod in pods:
        node = (pod.get("spec") or {}).get("nodeName")
        phase = (pod.get("status") or {}).get("phase")
        ns = pod["metadata"]["namespace"]
        if not node or phase in ("Succeeded", "Failed"):
            continue
        matched = [p for p in pols if policy_matches(p, ns_labels.get(ns), pod)]
        for p in matched:
            status[p["metadata"]["name"]][0] += 1
        for name, cid in running_containers(pod):
            want = [p for p in matched
                    if not p["spec"].get("containers") or name in p["spec"]["containers"]]
            if not want:
                continue
            for p in want:
                status[p["metadata"]["name"]][1].add(node)
            cap = [p["spec"].get("capture", {}) for p in want]
            ev = [p["spec"].get("events", {}) for p in want]
            ret = max((p["spec"].get("retention", "720h") for p in want), key=seconds)
            lines.append("|".join([
                node, ns, pod["metadata"]["name"], name, cid,
                ",".join(p["metadata"]["name"] for p in want),
                "readline=%s exec=%s terminal=%s" % (any(c.get("readline", True) for c in cap),
                                                    any(c.get("exec", True) for c in cap),
                                                    any(c.get("terminal", True) for c in cap)),
                "events=%s exec=%s rate=%d" % (
                    any(e.get("enabled", True) for e in ev),
                    any(e.get("enabled", True) and e.get("execEvents", False) for e in ev),
                    min(e.get("ratePerMinute", 60) for e in ev)),
                "retention=%s" % ret,
                "redact=%d" % len({(r["name"], r["pattern"], r.get("replacement", "[REDACTED]"))
                                   for p in want for r in p["spec"].get("redact") or []}),
            ]))
    return sorted(lines), status


def actual(sans):
    lines = []
    for s in sans:
        node = s["metadata"]["name"]
        for t in s["spec"].get("targets") or []:
            c, e = t["capture"], t["events"]
            lines.append("|".join([
                node, t["namespace"], t["pod"], t["container"], t["containerID"],
                ",".join(t["policies"]),
                "readline=%s exec=%s terminal=%s" % (c["readline"], c["exec"], c["terminal"]),
                "events=%s exec=%s rate=%d" % (e["enabled"], e["execEvents"], e["ratePerMinute"]),
                "retention=%s" % t["retention"],
                "redact=%d" % len(t.get("redact") or []),
            ]))
        if s["spec"]["targetCount"] != len(s["spec"].get("targets") or []):
            lines.append("%s|targetCount mismatch" % node)
        if not s["spec"].get("targets"):
            lines.append("%s|empty ShellAuditNode left behind" % node)
    return sorted(lines)


def main():
    mode = sys.argv[1]
    if mode == "targets":
        print("\n".join(expected(*map(load, sys.argv[2:5]))[0]))
    elif mode == "status":
        _, st = expected(*map(load, sys.argv[2:5]))
        for name in sorted(st):
            print(name, st[name][0], len(st[name][1]))
    elif mode == "actual":
        print("\n".join(actual(load(sys.argv[2]))))


if __name__ == "__main__":
    main()
