#!/usr/bin/python3
"""Engine benchmark: airanode's training engine against PyTorch's best arrangement, same run.

For each configuration (A, B, C of shared/perf/README.md) it runs, one after the other:

  ours   `airanode bench train --config X --json`: one model on all threads, then one 1-thread
         model per core side by side (both in one command);
  torch  shared/perf/torch_lm_bench.py in its best arrangements (README "The fastest PyTorch
         arrangement"): one process with torch threads 1 and OpenBLAS on all cores, with
         OPENBLAS_CORETYPE and OPENBLAS_L2_SIZE unset; and one 1-thread process per core side by
         side (their tokens/s summed).

Each figure is the median over --rounds rounds (rounds interleave ours and torch, so both see the
same machine). The ratio is tokens/s per machine: our best arrangement / PyTorch's best.

Usage (from anywhere; the repository is found from this file's location):
    /usr/bin/python3 scripts/bench_engine.py [--configs A,B,C] [--rounds 3] [--markdown]

Needs Go (to build ./cmd/airanode, unless --binary is given) and /usr/bin/python3 with torch.
"""
import argparse
import datetime
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TORCH_SCRIPT = os.path.join(REPO, "..", "shared", "perf", "torch_lm_bench.py")
PYTHON = "/usr/bin/python3"


def log(msg):
    print(msg, file=sys.stderr, flush=True)


def run_json(cmd, env=None):
    """Runs cmd and returns the JSON object on its last stdout line."""
    p = subprocess.run(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    if p.returncode != 0:
        raise SystemExit("%s failed (%d):\n%s" % (" ".join(cmd), p.returncode, p.stderr[-4000:]))
    lines = [l for l in p.stdout.splitlines() if l.strip()]
    if not lines:
        raise SystemExit("%s printed nothing" % " ".join(cmd))
    return json.loads(lines[-1])


def torch_env(blas_threads):
    env = dict(os.environ)
    env.pop("OPENBLAS_CORETYPE", None)
    env.pop("OPENBLAS_L2_SIZE", None)
    env["OPENBLAS_NUM_THREADS"] = str(blas_threads)
    return env


def torch_cmd(a, config):
    return [PYTHON, a.torch_script, "--config", config, "--threads", "1", "--norm", a.norm,
            "--mlp", a.mlp, "--steps", str(a.steps), "--warmup", str(a.warmup), "--quiet", str(a.quiet)]


def run_torch_single(a, config, cpus):
    return run_json(torch_cmd(a, config), env=torch_env(cpus))


def run_torch_side_by_side(a, config, cpus):
    """cpus 1-thread processes at once; returns their results."""
    procs = []
    for _ in range(cpus):
        procs.append(subprocess.Popen(torch_cmd(a, config), env=torch_env(1),
                                      stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True))
    out = []
    for p in procs:
        so, se = p.communicate()
        if p.returncode != 0:
            raise SystemExit("torch side-by-side run failed (%d):\n%s" % (p.returncode, se[-4000:]))
        out.append(json.loads([l for l in so.splitlines() if l.strip()][-1]))
    return out


def run_ours(a, config, cpus):
    return run_json([a.binary, "bench", "train", "--config", config, "--norm", a.norm, "--mlp", a.mlp,
                     "--threads", str(cpus), "--steps", str(a.steps), "--warmup", str(a.warmup), "--json"])


def median(xs):
    return statistics.median(xs) if xs else float("nan")


def machine():
    model = platform.processor() or "unknown"
    try:
        out = subprocess.run(["lscpu"], stdout=subprocess.PIPE, text=True).stdout
        for line in out.splitlines():
            if line.startswith("Model name:"):
                model = line.split(":", 1)[1].strip()
    except OSError:
        pass
    return model


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--configs", default="A,B,C")
    ap.add_argument("--rounds", type=int, default=1)
    ap.add_argument("--norm", default="ln", choices=["ln", "rms"])
    ap.add_argument("--mlp", default="gelu", choices=["gelu", "swiglu"])
    ap.add_argument("--steps", type=int, default=20)
    ap.add_argument("--warmup", type=int, default=5)
    ap.add_argument("--quiet", type=float, default=0.0,
                    help="seconds the torch script may wait for a quiet machine (its --quiet)")
    ap.add_argument("--cpus", type=int, default=os.cpu_count(), help="cores of the machine to use")
    ap.add_argument("--binary", help="airanode binary (default: go build ./cmd/airanode)")
    ap.add_argument("--torch-script", default=TORCH_SCRIPT)
    ap.add_argument("--markdown", action="store_true", help="also print the table as Markdown")
    ap.add_argument("--json-out", help="write every raw result here")
    a = ap.parse_args()
    configs = [c.strip().upper() for c in a.configs.split(",") if c.strip()]
    if not os.path.exists(a.torch_script):
        raise SystemExit("torch script not found: %s (shared/ must be next to the repository)" % a.torch_script)
    tmp = None
    if not a.binary:
        tmp = tempfile.TemporaryDirectory()
        a.binary = os.path.join(tmp.name, "airanode")
        log("building %s" % a.binary)
        subprocess.run(["go", "build", "-o", a.binary, "./cmd/airanode"], cwd=REPO, check=True)
    cpus = a.cpus

    load_before = os.getloadavg()
    raw = {c: {"ours": [], "torch_single": [], "torch_side": []} for c in configs}
    for r in range(a.rounds):
        for c in configs:
            log("round %d/%d config %s: torch, one process (OpenBLAS %d threads)" % (r + 1, a.rounds, c, cpus))
            raw[c]["torch_single"].append(run_torch_single(a, c, cpus))
            log("round %d/%d config %s: torch, %d 1-thread processes" % (r + 1, a.rounds, c, cpus))
            raw[c]["torch_side"].append(run_torch_side_by_side(a, c, cpus))
            log("round %d/%d config %s: airanode" % (r + 1, a.rounds, c))
            raw[c]["ours"].append(run_ours(a, c, cpus))

    rows = []
    for c in configs:
        x = raw[c]
        fpt = x["ours"][0]["flops_per_token"]
        if fpt != x["torch_single"][0]["flops_per_token"] or x["ours"][0]["params"] != x["torch_single"][0]["params"]:
            raise SystemExit("config %s: the two engines' models differ (params %d vs %d)" %
                             (c, x["ours"][0]["params"], x["torch_single"][0]["params"]))
        row = {
            "config": c, "params": x["ours"][0]["params"], "flops_per_token": fpt,
            "ours_single": median([o["single"]["tokens_per_s"] for o in x["ours"]]),
            "ours_per_core": median([o["per_core"]["tokens_per_s"] for o in x["ours"]]),
            "torch_single": median([t["tokens_per_s"] for t in x["torch_single"]]),
            "torch_side": median([sum(t["tokens_per_s"] for t in ts) for ts in x["torch_side"]]),
        }
        row["ours_best"] = max(row["ours_single"], row["ours_per_core"])
        row["torch_best"] = max(row["torch_single"], row["torch_side"])
        row["ratio"] = row["ours_best"] / row["torch_best"]
        rows.append(row)

    info = {
        "machine": machine(), "cpus": cpus, "date": datetime.date.today().isoformat(),
        "rounds": a.rounds, "norm": a.norm, "mlp": a.mlp, "steps": a.steps, "warmup": a.warmup,
        "device": raw[configs[0]]["ours"][0]["device"] if configs else "",
        "openblas_core": raw[configs[0]]["torch_single"][0].get("openblas_core", "") if configs else "",
        "loadavg_before": round(load_before[0], 2), "loadavg_after": round(os.getloadavg()[0], 2),
    }
    gf = lambda tok, fpt: tok * fpt / 1e9
    print("machine: %(machine)s, %(cpus)d cores; %(date)s; norm=%(norm)s mlp=%(mlp)s; "
          "median of %(rounds)d round(s), %(steps)d timed steps each" % info)
    print("ours: %(device)s; torch: OpenBLAS core %(openblas_core)s; "
          "1-min load average %(loadavg_before).2f before, %(loadavg_after).2f after" % info)
    hdr = ("config", "ours 1x%d" % cpus, "ours %dx1" % cpus, "torch 1 proc", "torch %dx1" % cpus,
           "ours best", "torch best", "ratio")
    print("%-6s %13s %13s %13s %13s %18s %18s %6s" % hdr)
    print("%-6s %13s %13s %13s %13s %18s %18s %6s" % ("", "tok/s", "tok/s", "tok/s", "tok/s",
                                                   "tok/s (GFLOP/s)", "tok/s (GFLOP/s)", ""))
    for r in rows:
        print("%-6s %13.0f %13.0f %13.0f %13.0f %18s %18s %5.2fx" % (
            r["config"], r["ours_single"], r["ours_per_core"], r["torch_single"], r["torch_side"],
            "%.0f (%.0f)" % (r["ours_best"], gf(r["ours_best"], r["flops_per_token"])),
            "%.0f (%.0f)" % (r["torch_best"], gf(r["torch_best"], r["flops_per_token"])), r["ratio"]))
    if a.markdown:
        print()
        print("| config | ours, 1 model x %d threads | ours, %d models x 1 thread | PyTorch, 1 process "
              "| PyTorch, %d processes x 1 thread | ours best / PyTorch best |" % (cpus, cpus, cpus))
        print("|---|---|---|---|---|---|")
        for r in rows:
            f = lambda tok: "%s (%.0f)" % (format(round(tok), ","), gf(tok, r["flops_per_token"]))
            print("| %s | %s | %s | %s | %s | **%.2fx** |" % (
                r["config"], f(r["ours_single"]), f(r["ours_per_core"]), f(r["torch_single"]),
                f(r["torch_side"]), r["ratio"]))
    if a.json_out:
        with open(a.json_out, "w") as fh:
            json.dump({"info": info, "rows": rows, "raw": raw}, fh, indent=1)
    if tmp:
        tmp.cleanup()


if __name__ == "__main__":
    main()
