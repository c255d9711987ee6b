#!/usr/bin/env python3
"""Pick the fastest kernels from a GPU run's kernel tables, as an `airanode-cuda --kernels` choice.

Reads a log holding TestMatMulTiles' and TestAttentionTimes' output (scripts/gpu-check.sh's or
scripts/gpu-tune.sh's kernel step) and prints one line: the choice, comma-separated
default=alternative pairs, or an empty line for the defaults. Why each pair was chosen goes to
standard error. Every kernel it names computes its default's bits (docs/gpu.md), so a choice
changes only the time:

- matmul: the shapes are grouped by the tile matmulTile picks for them (marked * in the table);
  for each group, every tile's times are summed over the group's shapes, and the tile with the
  least sum replaces the picked one when it is at least MARGIN faster. A tile whose bits differed
  (a "bits differ" line of TestMatMulTiles, a "not the CPU device's bits" line of
  TestMatMulTilesAgainstCPU) is never chosen; when the picked tile is such a tile, the fastest
  other one replaces it whatever the margin.
- attention: the forward and the backward, summed over the configs timed with both kernel sets,
  register-tiled against tiled; the tiled kernels replace the register-tiled ones when at least
  MARGIN faster, or when the register-tiled kernels' bits differed; never when the tiled ones' did.
- The defaults are the kernels the last GPU run measured fastest (docs/gpu.md), so what a table
  does not say (missing, or cut short by a fault that ended the process) keeps its defaults, and
  --failed (the kernel tests failed: scripts/gpu-check.sh passes it) keeps every default whose
  bits did not differ, whatever the times: the training runs after measure kernels known to be
  right. A default whose bits differed is still replaced, as above. (A default written after
  that run, not yet measured, would need a fallback to a measured kernel here.)

usage: gpu-pick.py [--margin 0.02] [--failed] [LOG]   (LOG defaults to standard input)
"""
import argparse
import re
import sys

ATTN_FWD = {"k_attn_fwd_c": "k_attn_fwd_t"}
ATTN_BWD = {"k_attn_dq_r": "k_attn_dq_t", "k_attn_dkv_r": "k_attn_dkv_t"}

TILES_RE = re.compile(r"tiles: \[([^\]]*)\]")
SHAPE_RE = re.compile(r"\b([A-Z]) (fwd|dx|dw)\s+(\d+)x\s*(\d+)x\s*(\d+):(.*)$")
TOKEN_RE = re.compile(r"([0-9]+(?:\.[0-9]+)?)(\*?)<?|<")
DONE_RE = re.compile(r"^\s*--- (?:PASS|FAIL): TestMatMulTiles \(", re.M)
DIFFER_RE = re.compile(r"\b[A-Z] (?:fwd|dx|dw)\s+\d+x\s*\d+x\s*\d+: (k_\w+): bits differ")
CPU_DIFFER_RE = re.compile(r"\b(k_\w+) \d+x\d+x\d+ ta=\w+ tb=\w+ acc=\w+: not the CPU device's bits")
ATTN_RE = re.compile(r"config (\w+) attention .*?, ([\w-]+) kernels: forward ([0-9.]+) µs, backward ([0-9.]+) µs")
ATTN_DIFFER_RE = re.compile(r"the attention kernels' bits differ \(register-tiled (true|false), tiled (true|false)")


def note(msg):
    print(msg, file=sys.stderr)


def pick_tiles(text, margin):
    """The matmul part of the choice: {picked tile: replacement}."""
    names = None
    for m in TILES_RE.finditer(text):
        names = m.group(1).split()
    groups = {}  # picked tile -> summed time per tile index
    unread = 0
    for line in text.splitlines():
        m = SHAPE_RE.search(line)
        if not m or names is None:
            continue
        tokens = [TOKEN_RE.fullmatch(tok) for tok in m.group(6).split()]
        times = [(t.group(1), t.group(2)) for t in tokens if t and t.group(1)]
        picked = [i for i, (_, star) in enumerate(times) if star]
        if not all(tokens) or len(times) != len(names) or len(picked) != 1:
            unread += 1
            continue
        sums = groups.setdefault(names[picked[0]], [0.0] * len(names))
        for i, (t, _) in enumerate(times):
            sums[i] += float(t)
    if unread:
        note(f"matmul: {unread} row(s) without one time per tile and one picked tile left out")
    if not groups:
        note("matmul: no TestMatMulTiles table in the log: the default tiles")
        return {}
    choice = {}
    if not DONE_RE.search(text):  # the test stopped inside the table: what it did not reach keeps its default
        note("matmul: the table is cut short: the tiles of the shapes it lacks keep their defaults")
    bad = set(m.group(1) for m in DIFFER_RE.finditer(text)) | set(m.group(1) for m in CPU_DIFFER_RE.finditer(text))
    for name in sorted(bad):
        note(f"matmul: {name}'s bits differed (from the reference tile's or the CPU device's): never chosen")
    for picked, sums in sorted(groups.items()):
        ok = [i for i in range(len(names)) if names[i] not in bad]
        if not ok:
            note(f"matmul: every tile's bits differed; {picked} kept")
            continue
        best = min(ok, key=lambda i: sums[i])
        p = names.index(picked)
        if names[best] == picked:
            note(f"matmul: {picked} kept: the fastest on its shapes ({sums[p]:.1f} µs)")
        elif picked in bad or sums[best] < sums[p] * (1 - margin):
            why = "its bits differed" if picked in bad else f"{sums[p]:.1f} µs against {sums[best]:.1f}"
            note(f"matmul: {names[best]} in place of {picked} on its shapes ({why})")
            choice[picked] = names[best]
        elif margin >= 1:
            note(f"matmul: {picked} kept: the kernel tests failed, so only kernels whose bits differed are replaced")
        else:
            note(f"matmul: {picked} kept: {names[best]} is within {margin:.0%} ({sums[best]:.1f} against {sums[p]:.1f} µs)")
    return choice


def pick_attention(text, margin):
    """The attention part of the choice."""
    tot = {}  # config -> kind -> (forward, backward)
    for m in ATTN_RE.finditer(text):
        tot.setdefault(m.group(1), {})[m.group(2)] = (float(m.group(3)), float(m.group(4)))
    # "true": the kernels' bits equal the reference kernels' (in every config the test reached).
    reg_ok = all(m.group(1) == "true" for m in ATTN_DIFFER_RE.finditer(text))
    tiled_ok = all(m.group(2) == "true" for m in ATTN_DIFFER_RE.finditer(text))
    if not reg_ok or not tiled_ok:
        if reg_ok or not tiled_ok:
            note(f"attention: the {'tiled' if reg_ok else 'register-tiled and the tiled'} kernels' bits differed: the register-tiled ones kept")
            return {}
        note("attention: the register-tiled kernels' bits differed: the tiled ones")
        return {**ATTN_FWD, **ATTN_BWD}
    # Only configs timed with both kernel sets compare.
    both = [c for c in sorted(tot) if "register-tiled" in tot[c] and "tiled" in tot[c]]
    if not both:
        if any("register-tiled" in k for k in tot.values()):
            note("attention: only the register-tiled kernels were timed: they are kept")
            return {}
        note("attention: no TestAttentionTimes table in the log: the register-tiled kernels (the defaults)")
        return {}
    reg = [sum(tot[c]["register-tiled"][i] for c in both) for i in (0, 1)]
    tiled = [sum(tot[c]["tiled"][i] for c in both) for i in (0, 1)]
    choice = {}
    for part, i, pairs in (("forward", 0, ATTN_FWD), ("backward", 1, ATTN_BWD)):
        if tiled[i] < reg[i] * (1 - margin):
            note(f"attention {part} (configs {', '.join(both)}): tiled ({tiled[i]:.1f} µs) in place of register-tiled ({reg[i]:.1f} µs)")
            choice.update(pairs)
        else:
            note(f"attention {part} (configs {', '.join(both)}): register-tiled kept ({reg[i]:.1f} µs; tiled {tiled[i]:.1f} µs)")
    return choice


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--margin", type=float, default=0.02, help="how much faster an alternative must be (a fraction)")
    ap.add_argument("--failed", action="store_true",
                    help="the kernel tests failed: keep every default whose bits did not differ, whatever the times")
    ap.add_argument("log", nargs="?")
    args = ap.parse_args()
    if not 0 <= args.margin < 1:
        ap.error("--margin must be in [0, 1)")
    try:
        text = open(args.log, encoding="utf-8", errors="replace").read() if args.log else sys.stdin.read()
    except OSError as e:
        ap.error(str(e))
    # After a failed kernel test a margin of 1 keeps every default whose bits did not differ: no
    # time is less than nothing.
    margin = 1.0 if args.failed else args.margin
    if args.failed:
        note("the kernel tests failed: the defaults (the kernels the last GPU run measured) but those whose bits differed")
    choice = {**pick_tiles(text, margin), **pick_attention(text, margin)}
    print(",".join(f"{k}={v}" for k, v in sorted(choice.items())))
    return 0


if __name__ == "__main__":
    sys.exit(main())
