#!/usr/bin/python3
"""eigenrec attention vs PyTorch (1 thread), measured in the same run.

  /usr/bin/python3 bench/compare/attention.py [--bench build/release/bench/bench_attention]
                                              [--lengths 1024,2048,4096,8192] [--plot docs/attention_time_vs_L.png]

PyTorch side (torch.set_num_threads(1), float32, no grad):
  core attention  softmax(Q K^T / sqrt(d) [+ causal mask]) V with bmm, H = 8, d = 64, batch 1
  MHA             nn.MultiheadAttention(512, 8, batch_first=True).eval(), need_weights=False
eigenrec side: the Google Benchmark program, JSON output. Both report CPU time of one
thread (process CPU time for PyTorch, which runs one thread), which on this shared
machine is much steadier than wall time. Prints a table of times and ratios and, if
matplotlib is available, writes a plot of time vs L.
"""
import argparse
import json
import math
import os
import subprocess
import sys

# torch.set_num_threads(1) does not reach the system BLAS that Debian's torch multiplies
# with (OpenBLAS's own pthread pool): pin every pool before torch loads.
for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ[_var] = "1"

import torch  # noqa: E402

from timing import cpu_seconds  # noqa: E402

torch.set_num_threads(1)
H, D = 8, 64


def torch_core(L, causal):
    q, k, v = (torch.randn(H, L, D) for _ in range(3))
    scale = 1.0 / math.sqrt(D)
    mask = torch.ones(L, L, dtype=torch.bool).triu(1) if causal else None

    def run():
        with torch.no_grad():
            s = torch.bmm(q, k.transpose(1, 2)) * scale
            if mask is not None:
                s.masked_fill_(mask, float("-inf"))
            return torch.bmm(torch.softmax(s, dim=-1), v)

    return cpu_seconds(run)


def torch_mha(L):
    m = torch.nn.MultiheadAttention(512, 8, batch_first=True).eval()
    x = torch.randn(1, L, 512)

    def run():
        with torch.no_grad():
            return m(x, x, x, need_weights=False)

    return cpu_seconds(run)


def eigenrec_times(bench, lengths):
    pattern = "BM_Sdpa|BM_Mha|BM_Gemm"
    out = subprocess.run([bench, "--benchmark_format=json", "--benchmark_filter=" + pattern,
                          "--benchmark_min_time=0.3"], check=True, capture_output=True, text=True).stdout
    res = {}
    for b in json.loads(out)["benchmarks"]:
        unit = {"ms": 1e-3, "us": 1e-6, "ns": 1e-9, "s": 1.0}[b["time_unit"]]
        res[b["name"]] = (b["cpu_time"] * unit, b.get("GFLOP/s", float("nan")) / 1e9 if "GFLOP/s" in b else float("nan"))
    return res


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--bench", default="build/release/bench/bench_attention")
    ap.add_argument("--lengths", default="1024,2048,4096,8192")
    ap.add_argument("--plot", default="docs/attention_time_vs_L.png")
    args = ap.parse_args()
    lengths = [int(x) for x in args.lengths.split(",")]
    ours = eigenrec_times(args.bench, lengths)

    def ms(x):
        return "%9.1f" % (1e3 * x) if x == x else "        -"

    print("torch %s, 1 thread; times are CPU ms per call\n" % torch.__version__)
    print("core attention, H=8, d=64       torch   eig naive   eig tiled   torch/tiled  tiled GFLOP/s")
    rows = []
    for causal in (0, 1):
        for L in lengths:
            t = torch_core(L, causal)
            tn = ours.get("BM_SdpaNaiveForward/%d/%d/1" % (L, causal), (float("nan"),))[0]
            tt, gf = ours.get("BM_SdpaTiledForward/%d/%d/1" % (L, causal), (float("nan"), float("nan")))
            rows.append((causal, L, t, tn, tt))
            print("  L=%-5d %-8s            %s   %s   %s   %9.2fx  %8.1f" %
                  (L, "causal" if causal else "", ms(t), ms(tn), ms(tt), t / tt, gf * 1e9 if gf == gf else float("nan")))
    print("\ncausal speed-up of the tiled kernel (non-causal / causal time):")
    for L in lengths:
        a = ours.get("BM_SdpaTiledForward/%d/0/1" % L, (float("nan"),))[0]
        b = ours.get("BM_SdpaTiledForward/%d/1/1" % L, (float("nan"),))[0]
        print("  L=%-5d %.2fx" % (L, a / b))
    print("\nbackward / forward (tiled):")
    for L in (1024, 4096):
        for causal in (0, 1):
            f = ours.get("BM_SdpaTiledForward/%d/%d/1" % (L, causal), (float("nan"),))[0]
            b = ours.get("BM_SdpaTiledBackward/%d/%d/1" % (L, causal), (float("nan"),))[0]
            print("  L=%-5d %-7s %.2fx" % (L, "causal" if causal else "", b / f))
    print("\nMultiHeadAttention forward, E=512, H=8, batch 1    torch    eigenrec   torch/eigenrec")
    for L in (128, 1024, 4096):
        t = torch_mha(L)
        e = ours.get("BM_MhaForward/%d/1" % L, (float("nan"),))[0]
        print("  L=%-5d                                     %s   %s   %9.2fx" % (L, ms(t), ms(e), t / e))
    for name in ("BM_GemmScores/1024", "BM_GemmProjection/1024"):
        if name in ours:
            print("%-28s %s ms  %.1f GFLOP/s" % (name, ms(ours[name][0]), ours[name][1] * 1e9))

    try:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return
    fig, ax = plt.subplots(figsize=(6, 4))
    for causal, style in ((0, "-"), (1, "--")):
        sel = [r for r in rows if r[0] == causal]
        tag = " causal" if causal else ""
        ax.loglog([r[1] for r in sel], [r[2] * 1e3 for r in sel], "o" + style, color="C0", label="PyTorch 1.13" + tag)
        ax.loglog([r[1] for r in sel if r[3] == r[3]], [r[3] * 1e3 for r in sel if r[3] == r[3]], "s" + style,
                  color="C1", label="eigenrec naive" + tag)
        ax.loglog([r[1] for r in sel], [r[4] * 1e3 for r in sel], "^" + style, color="C2", label="eigenrec tiled" + tag)
    ax.set_xlabel("sequence length L (H=8, d=64, 1 thread)")
    ax.set_ylabel("forward CPU time [ms]")
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    os.makedirs(os.path.dirname(args.plot) or ".", exist_ok=True)
    fig.savefig(args.plot, dpi=110)
    print("\nplot written to", args.plot)


if __name__ == "__main__":
    sys.exit(main())
