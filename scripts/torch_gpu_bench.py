#!/usr/bin/env python3
"""PyTorch eager reference on a CUDA GPU for the engine's GPU benchmark (docs/benchmarks.md).

Imports the model of the CPU reference (shared/perf/torch_lm_bench.py: byte-level pre-norm transformer,
learned positions, tied embeddings, AdamW) and runs it on the GPU in fp32 eager mode, the same model and
batch our CUDA engine trains. Prints one JSON line per config: tokens/s, ms/step (median).

usage: torch_gpu_bench.py --ref DIR_WITH_torch_lm_bench.py [--configs A,B] [--steps 30] [--warmup 10]
"""
import argparse
import json
import statistics
import sys
import time


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--ref", required=True)
    ap.add_argument("--configs", default="A,B")
    ap.add_argument("--steps", type=int, default=30)
    ap.add_argument("--warmup", type=int, default=10)
    ap.add_argument("--norm", default="ln")
    ap.add_argument("--mlp", default="gelu")
    a = ap.parse_args()
    sys.path.insert(0, a.ref)
    import torch
    import torch.nn.functional as F
    import torch_lm_bench as ref

    torch.backends.cuda.matmul.allow_tf32 = False  # fp32, as our engine
    torch.backends.cudnn.allow_tf32 = False
    torch.set_default_device("cuda")
    for cfg in a.configs.split(","):
        d, L, h, T, B = ref.CONFIGS[cfg]
        torch.manual_seed(0)
        model = ref.LM(d, L, h, T, a.norm, a.mlp)
        n_params = sum(p.numel() for p in model.parameters())
        n_flop = n_params - model.pos.weight.numel()
        fpt = 6 * n_flop + 12 * L * T * d
        opt = torch.optim.AdamW(model.parameters(), lr=1e-3, weight_decay=0.1)
        times = []
        for step in range(a.warmup + a.steps):
            data = torch.randint(0, 256, (B, T + 1))
            x, y = data[:, :-1], data[:, 1:]
            torch.cuda.synchronize()
            t0 = time.perf_counter()
            opt.zero_grad(set_to_none=True)
            loss = F.cross_entropy(model(x).reshape(-1, 256), y.reshape(-1))
            loss.backward()
            opt.step()
            torch.cuda.synchronize()
            if step >= a.warmup:
                times.append(time.perf_counter() - t0)
        med = statistics.median(times)
        print(json.dumps({"impl": "pytorch-eager", "device": torch.cuda.get_device_name(), "torch": torch.__version__,
                          "config": cfg, "params": n_params, "ms_step": round(med * 1e3, 3),
                          "tokens_per_s": round(B * T / med, 1), "gflops": round(fpt * B * T / med / 1e9, 1),
                          "final_loss": round(loss.item(), 4)}), flush=True)


if __name__ == "__main__":
    main()
