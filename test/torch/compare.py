#!/usr/bin/python3
"""The PyTorch side of the engine's correctness test (train/torchexport's TestAgainstPyTorch).

Loads a module file written by `airanode export torch`, the engine's weights (safetensors) and one
batch, computes the reference loss and every parameter gradient (in float64 by default), and

  - writes the reference gradients as float32 safetensors (--grads-out), for the Go test to compare;
  - when given the engine's own gradients (--ours, a safetensors file with the engine's loss in the
    metadata key "loss"), prints the comparison too.

Usage:
    compare.py --module model.py --weights w.safetensors --batch batch.json \
        [--grads-out ref.safetensors] [--ours ours.safetensors] [--float32]
    compare.py --manifest cases.json [--float32]

A manifest is a JSON list of cases, each {"name", "module", "weights", "batch", "grads_out", "ours"}
(the last two optional); torch is imported once and one JSON line is printed per case, in order.

batch.json is {"tokens": [[...], ...], "targets": [[...], ...]} ([B][T] each; targets < 0 carry no
loss). Prints one JSON line: {"loss": ..., "dtype": ..., "torch": ...} plus, with --ours,
"loss_rel" and "grad_rel" (per tensor) and "grad_rel_max".

Relative error of a tensor: ||ours - ref||_2 / max(||ref||_2, 1e-30), norms over all its elements
(a scalar's is |ours - ref| / max(|ref|, 1e-30)).
"""
import argparse
import importlib.util
import json
import struct

import torch

TINY = 1e-30


def load_module(path):
    spec = importlib.util.spec_from_file_location("airanode_exported_model", path)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def rel(ours, ref):
    ours, ref = ours.double().reshape(-1), ref.double().reshape(-1)
    return float(torch.linalg.norm(ours - ref)) / max(float(torch.linalg.norm(ref)), TINY)


def run_case(case, dtype):
    """Computes one case's reference; returns the JSON-able report."""
    mod = load_module(case["module"])
    model = mod.load_model(case["weights"], dtype)
    with open(case["batch"]) as f:
        batch = json.load(f)
    tokens = torch.tensor(batch["tokens"], dtype=torch.long)
    targets = torch.tensor(batch["targets"], dtype=torch.long)
    if tokens.dim() != 2 or tokens.shape != targets.shape:
        raise SystemExit("%s: tokens and targets must both be [B][T]" % case["batch"])
    loss, grads = model.loss_and_grads(tokens, targets)
    out = {"loss": loss, "dtype": str(dtype).replace("torch.", ""), "torch": torch.__version__}
    if case.get("name"):
        out["name"] = case["name"]
    if case.get("grads_out"):
        mod.save_safetensors(case["grads_out"], {n: g.float() for n, g in grads.items()},
                             metadata={"loss": repr(loss)})
    if case.get("ours"):
        ours = mod.load_safetensors(case["ours"])
        missing = sorted(set(grads) - set(ours))
        if missing:
            raise SystemExit("%s lacks gradients %s" % (case["ours"], missing))
        meta = _metadata(case["ours"])
        if "loss" in meta:
            out["loss_ours"] = float(meta["loss"])
            out["loss_rel"] = abs(out["loss_ours"] - loss) / max(abs(loss), TINY)
        out["grad_rel"] = {n: rel(ours[n], g) for n, g in sorted(grads.items())}
        out["grad_rel_max"] = max(out["grad_rel"].values()) if grads else 0.0
    return out


def main(argv=None):
    ap = argparse.ArgumentParser(description="PyTorch reference loss and gradients for the engine")
    ap.add_argument("--manifest", help="JSON list of cases (instead of the four flags below)")
    ap.add_argument("--module", help="file written by `airanode export torch`")
    ap.add_argument("--weights", help="the engine's weights (safetensors)")
    ap.add_argument("--batch", help="batch JSON")
    ap.add_argument("--grads-out", help="write the reference gradients here (float32 safetensors)")
    ap.add_argument("--ours", help="the engine's gradients (safetensors, metadata loss=...)")
    ap.add_argument("--float32", action="store_true", help="compute the reference in float32")
    a = ap.parse_args(argv)
    if a.manifest:
        with open(a.manifest) as f:
            cases = json.load(f)
    elif a.module and a.weights and a.batch:
        cases = [{"module": a.module, "weights": a.weights, "batch": a.batch,
                  "grads_out": a.grads_out, "ours": a.ours}]
    else:
        ap.error("give --manifest, or --module, --weights and --batch")
    torch.set_num_threads(1)  # the machine is shared; the models are small
    dtype = torch.float32 if a.float32 else torch.float64
    for case in cases:
        print(json.dumps(run_case(case, dtype)), flush=True)


def _metadata(path):
    with open(path, "rb") as f:
        (n,) = struct.unpack("<Q", f.read(8))
        return json.loads(f.read(n)).get("__metadata__", {})


if __name__ == "__main__":
    main()
