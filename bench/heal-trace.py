#!/usr/bin/python3
"""Reads one cut's trace written by `bench/partition-heal.py --trace DIR` and prints, on
one time line relative to the link's return: stalls of the machine itself, the gaps in the tokens of the request sent
during the cut and of the streams, /health answers other than 200, neighbour events on
both hosts, and every change of the ranks' TCP sockets (ss -tino: retransmissions,
rto, backoff, cwnd, unacked, the retransmission timer).

  bench/heal-trace.py DIR/rto0-cut7 [--from -0.5] [--to 15] [--gap 0.3]
  bench/heal-trace.py --summary DIR     one line a cut: the request's times, how long the
                                        machine held a 10 ms sleeper in that window, and
                                        the ranks' TCP backoff when the link came back"""
import argparse
import json
import os
import re

ap = argparse.ArgumentParser()
ap.add_argument("dir")
ap.add_argument("--summary", action="store_true")
ap.add_argument("--from", dest="t_from", type=float, default=-0.5, help="s relative to the link's return")
ap.add_argument("--to", type=float, default=15.0)
ap.add_argument("--gap", type=float, default=0.3, help="token gaps at least this long are shown")
a = ap.parse_args()


def summary(root):
    """Per cut: done/first after the link, the machine's stalls inside [link up, request
    done], and the largest TCP backoff of the ranks' sockets in the last sample before."""
    rows = []
    for d in sorted(os.listdir(root), key=lambda x: (x.split("-cut")[0], int(x.split("-cut")[1]) if "-cut" in x else 0)):
        path = os.path.join(root, d)
        if not os.path.exists(os.path.join(path, "tokens.json")):
            continue
        tk = json.load(open(os.path.join(path, "tokens.json")))
        up, end = tk["t_up"], tk["late_end"]
        first = tk["late"][0] - up if tk["late"] else None
        held = 0.0
        worst = 0.0
        if os.path.exists(os.path.join(path, "stalls.txt")):
            for line in open(os.path.join(path, "stalls.txt")):
                t0, gap = float(line.split()[0]), float(line.split()[1])
                lo, hi = max(t0, up), min(t0 + gap, end)
                if hi > lo:
                    held += hi - lo
                    worst = max(worst, hi - lo)
        backoff, timer = 0, ""
        for name in ("r0", "r1"):
            t, last = None, {}
            for line in open(os.path.join(path, f"ss-{name}.txt")):
                if line.startswith("T "):
                    t = float(line.split()[1])
                elif t is not None and t < up and line.startswith("ESTAB") and ":1024" in line:
                    m = re.search(r"timer:\(on,([^,]*),(\d+)\)", line)
                    last[line.split()[3] + line.split()[4]] = (int(m.group(2)), m.group(1)) if m else (0, "")
            for b, rest in last.values():
                if b >= backoff:
                    backoff, timer = b, rest
        rows.append((d, first, end - up, held, worst, backoff, timer))
        print(f"{d:14} first {first if first is None else round(first, 2):>6} s  done {end - up:6.2f} s  machine held a "
              f"sleeper {held:5.2f} s (longest {worst:4.2f} s)  TCP backoff at the return: {backoff} ({timer or 'no timer'})")
    return rows


if a.summary:
    summary(a.dir)
    raise SystemExit(0)
tok = json.load(open(os.path.join(a.dir, "tokens.json")))
t_up = tok["t_up"]
events = [(tok["t_cut"] - t_up, "----", "link down"), (0.0, "----", "link up")]


def rel(t):
    return t - t_up


def gaps(name, times):
    for x, y in zip(times, times[1:]):
        if y - x >= a.gap:
            events.append((rel(x), name, f"no token for {y - x:.2f} s (next at {rel(y):+.2f})"))


gaps("late", tok["late"])
if tok["late"]:
    events.append((rel(tok["late"][0]), "late", "first token"))
events.append((rel(tok["late_end"]), "late", f"end ({len(tok['late'])} tokens)"))
for i, s in enumerate(tok["streams"]):
    gaps(f"str{i}", s)
for line in open(os.path.join(a.dir, "health.jsonl")):
    h = json.loads(line)
    if h["status"] != 200:
        body = h["body"] if isinstance(h["body"], str) else json.dumps(h["body"])[:140]
        events.append((rel(h["t"]), "hlth", f"{h['status']} {body}"))
if os.path.exists(os.path.join(a.dir, "stalls.txt")):
    for line in open(os.path.join(a.dir, "stalls.txt")):
        t, gap, *rest = line.split()
        events.append((rel(float(t)), "STALL", f"a 10 ms sleeper woke {float(gap):.2f} s later ({' '.join(rest)})"))
stamp = re.compile(r"^\[(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d+)")
for name in ("r0", "r1"):
    path = os.path.join(a.dir, f"neigh-{name}.txt")
    if os.path.exists(path):
        import datetime
        for line in open(path):
            m = stamp.match(line)
            if m:
                t = datetime.datetime.fromisoformat(m.group(1)).timestamp()
                events.append((rel(t), f"nb{name[1]}", line[m.end():].strip()[:120]))
# ss: per socket, print a sample when its interesting fields change.
keys = ("rto", "backoff", "cwnd", "unacked", "retrans", "lost", "timer", "sendq")
for name in ("r0", "r1"):
    path = os.path.join(a.dir, f"ss-{name}.txt")
    if not os.path.exists(path):
        continue
    t, last, head = None, {}, None
    for line in open(path):
        if line.startswith("T "):
            t = float(line.split()[1])
            continue
        if line.startswith(("ESTAB", "SYN", "FIN", "CLOSE", "LAST", "TIME")):
            parts = line.split()
            head = f"{parts[3]}->{parts[4]}"
            sendq = parts[2]
            timer = re.search(r"timer:\(([^)]*)\)", line)
            head_timer = timer.group(1) if timer else ""
            continue
        if head is None or t is None or not line.startswith((" ", "\t")):
            continue
        f = {}
        for k in ("rto", "backoff", "cwnd", "unacked", "lost", "retrans", "lastsnd", "lastrcv", "lastack"):
            m = re.search(rf"\b{k}:(\S+)", line)
            if m:
                f[k] = m.group(1)
        f["timer"] = head_timer
        f["sendq"] = sendq if sendq != "0" else ""
        tm = head_timer.split(",")
        sig = tuple(f.get(k) for k in keys if k != "timer") + ((tm[0], tm[-1]) if head_timer else ())
        if last.get(head) != sig and a.t_from <= rel(t) <= a.to:
            events.append((rel(t), f"ss{name[1]}", f"{head} " + " ".join(f"{k}={f[k]}" for k in f if f[k])))
        last[head] = sig
        head = None
for t, who, what in sorted(events):
    if a.t_from <= t <= a.to:
        print(f"{t:+8.3f} {who:5} {what}")
