#!/usr/bin/env python3
"""Summarise a scripts/gpu-check.sh log: the kernel choice the runs used, the same-run throughput
table against PyTorch (ours with the tuned kernels, ours with the reference kernels, PyTorch eager:
each one's first run), whether the tuned, reference and one-stream (--overlap=false) runs ended on
the same digest, the ratio ours/PyTorch of every pair of runs (each run of ours with the next
PyTorch run after it in the log) and their median, for ours and for ours on one stream, the parity
verdict, and the verdicts of the kernel tests, the determinism run, the CPU comparison and the node
smoke test. Reads the log path given (or stdin); prints the summary; exits 1 when the tuned,
reference or one-stream runs of a config ended on different digests (no other step checks that
across the bench runs), else 0.

usage: gpu-summary.py [LOG]
"""
import json
import re
import statistics
import sys

# The impl of bench --overlap=false's lines: every launch in order, on one stream.
ONE_STREAM = "airanode-cuda (one stream)"


def main():
    text = open(sys.argv[1]).read() if len(sys.argv) > 1 else sys.stdin.read()
    runs = {}  # (impl, config) -> the first line
    every = {}  # (impl, config) -> every line, in log order
    pairs = {}  # (impl, config) -> [(ours, PyTorch)]: each of ours with the next PyTorch line
    pending = {}  # (impl, config) -> lines of ours not yet paired
    skipped = 0  # lines that name an impl and config but no positive tokens_per_s
    for raw in text.splitlines():
        raw = raw.strip()
        if not raw.startswith("{"):
            continue
        try:
            d = json.loads(raw)
        except ValueError:
            continue
        # A run line names its impl and config and has a positive tokens_per_s; others are not runs.
        tps = d.get("tokens_per_s") if isinstance(d, dict) else None
        if "impl" in d and "config" in d and isinstance(tps, (int, float)) and tps > 0:
            key = (d["impl"], d["config"])
            runs.setdefault(key, d)
            every.setdefault(key, []).append(d)
            if d["impl"] == "pytorch-eager":
                for (impl, c), ours in list(pending.items()):
                    if c == d["config"]:
                        pairs.setdefault((impl, c), []).extend((o, d) for o in ours)
                        del pending[(impl, c)]
            else:
                pending.setdefault(key, []).append(d)
        elif "impl" in d and "config" in d:
            skipped += 1
    configs = sorted({c for _, c in runs})
    if skipped:
        print(f"note: {skipped} run line(s) without a positive tokens_per_s left out")
    differ = False
    chosen = sorted({d.get("kernels", "") for (i, _), ds in every.items()
                     if i in ("airanode-cuda", ONE_STREAM) for d in ds})
    print("kernels: " + (" | ".join(k or "the defaults" for k in chosen) if chosen else "-"))
    print("throughput, same run (tokens/s):")
    print(f"  {'config':6} {'ours':>12} {'ours, reference kernels':>24} {'PyTorch eager':>14} {'ours/PyTorch':>13} {'tuned/reference':>16}  digests")
    for c in configs:
        ours = runs.get(("airanode-cuda", c))
        ref = runs.get(("airanode-cuda (reference kernels)", c))
        pt = runs.get(("pytorch-eager", c))
        tok = lambda d: f"{d['tokens_per_s']:,.0f}" if d else "-"
        ratio = lambda a, b: f"{a['tokens_per_s'] / b['tokens_per_s']:.2f}x" if a and b else "-"
        same = "-"
        if ours and ref:
            same = "equal" if ours.get("digest_final") == ref.get("digest_final") else "DIFFER"
            differ = differ or same == "DIFFER"
        print(f"  {c:6} {tok(ours):>12} {tok(ref):>24} {tok(pt):>14} {ratio(ours, pt):>13} {ratio(ours, ref):>16}  {same}")
    card = next((d.get("device") for (i, _), d in runs.items() if i == "pytorch-eager"), None)
    if card:
        print(f"  card: {card}")
    # One-stream runs must end on the tuned runs' digest.
    for c in configs:
        ours = runs.get(("airanode-cuda", c))
        one = every.get((ONE_STREAM, c), [])
        if one and not ours:
            print(f"  {c}: {len(one)} one-stream run(s) without a tuned run to compare digests with")
        for o in one:
            if ours and o.get("digest_final") != ours.get("digest_final"):
                print(f"  {c}: a one-stream run's digest DIFFERS from the tuned run's ({o.get('digest_final')} vs {ours.get('digest_final')})")
                differ = True
    # PyTorch eager's own time varies by up to 2x between runs on a shared host: the verdict is the
    # median of the pairs' ratios, not one run's.
    for impl, label in (("airanode-cuda", "ours"), (ONE_STREAM, "ours on one stream")):
        for c in configs:
            ps = pairs.get((impl, c), [])
            if not ps:
                continue
            ratios = [o["tokens_per_s"] / p["tokens_per_s"] for o, p in ps]
            med = statistics.median(ratios)
            verdict = "at or above parity" if med >= 1 else "below parity"
            print(f"  {c}: {label}/PyTorch over {len(ps)} pair{'s' if len(ps) != 1 else ''}: " + " ".join(f"{r:.2f}x" for r in ratios) +
                  f"; median {med:.2f}x, {verdict}")
    checks = [
        ("kernel tests", r"^PASS$", r"^--- FAIL|^FAIL$"),
        ("determinism (eval)", r"Result identical to the first run's", r"the Result differs"),
        ("cuda = cpu bits (bench)", r"cpu and cuda digests identical", r"cpu and cuda digests DIFFER"),
        ("node smoke", r"^PASS: the node ran the task", r"^FAIL: (no result|the result is not)"),
    ]
    for name, good, bad in checks:
        g = len(re.findall(good, text, re.M))
        b = len(re.findall(bad, text, re.M))
        print(f"{name}: {'FAILED' if b else ('passed' if g else 'no verdict in the log')} ({g} passing, {b} failing lines)")
    return 1 if differ else 0


if __name__ == "__main__":
    sys.exit(main())
