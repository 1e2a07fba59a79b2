#!/usr/bin/python3
"""eigenrec ProbSparse (Informer) attention vs PyTorch (1 thread), measured in the same run.

  /usr/bin/python3 bench/compare/informer.py [--bench build/release/bench/bench_informer]
                                             [--lengths 1024,2048,4096,8192] [--with-16384]
                                             [--full-max 8192] [--no-eigenrec] [--plot PATH]

PyTorch side (torch.set_num_threads(1), float32, no grad), batch 1, H = 8, d = 64,
self-attention, unmasked, factor 5:
  ProbSparse  the Informer2020 reference algorithm as its code does it: U = factor *
              ceil(ln L) sampled keys per query drawn with torch.randint, K expanded to
              [B, H, L, L, d] and gathered to the sample [B, H, L, U, d], the sparsity
              measure max - sum / L, top-u queries, their full scores, softmax, and the
              rows scattered into the lazy context (mean of V)
  full        softmax(Q K^T / sqrt(d)) V with bmm (skipped above --full-max: it is slow
              and needs H L^2 floats)
eigenrec side: the Google Benchmark program (JSON output), benchmarks BM_ProbSparse/<L>
and BM_FullTiled/<L>. Both sides report CPU time of one thread (process CPU time for
PyTorch, which runs one thread), best of several calls. If the program is missing, only
the PyTorch numbers are printed. --plot writes a log-log time-vs-L PNG (needs matplotlib).

Debian's torch does its matrix products through whatever libblas.so.3 the system's
alternatives select (printed at the top): with the reference BLAS (libblas3 alone) its bmm
is several times slower than with OpenBLAS (apt-get install libopenblas0), which the
comparison should use. OPENBLAS_NUM_THREADS defaults to 1 here, as torch.set_num_threads
does not reach a BLAS it was not built against.
"""
import argparse
import json
import math
import os
import re
import subprocess
import sys

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
os.environ.setdefault("OMP_NUM_THREADS", "1")
import torch  # noqa: E402

from timing import cpu_seconds  # noqa: E402

torch.set_num_threads(1)
B, H, D = 1, 8, 64
NAN = float("nan")


def sample_counts(factor, lq, lk):
    U = factor * int(math.ceil(math.log(lk)))
    u = factor * int(math.ceil(math.log(lq)))
    return min(U, lk), min(u, lq)


def prob_attention_reference(q, k, v, factor=5, index=None):
    """q [B, H, Lq, E], k [B, H, Lk, E], v [B, H, Lk, Ev], unmasked, scale 1/sqrt(E).
    Structured like the reference code: the key sample is gathered from K expanded over the
    queries, and the active rows are scattered into the lazy context. index: the [Lq, U]
    key sample (drawn with torch.randint when None, as the reference does)."""
    b, h, lq, e = q.shape
    lk = k.shape[2]
    U, u = sample_counts(factor, lq, lk)
    if index is None:
        index = torch.randint(lk, (lq, U))
    k_expand = k.unsqueeze(-3).expand(b, h, lq, lk, e)                     # a view
    k_sample = k_expand[:, :, torch.arange(lq).unsqueeze(1), index, :]     # [B, H, Lq, U, E]
    qk_sample = torch.matmul(q.unsqueeze(-2), k_sample.transpose(-2, -1)).squeeze(-2)   # [B, H, Lq, U]
    m = qk_sample.max(-1)[0] - qk_sample.sum(-1) / lk
    top = m.topk(u, sorted=False)[1]                                        # [B, H, u]
    bi = torch.arange(b)[:, None, None]
    hi = torch.arange(h)[None, :, None]
    scores = torch.matmul(q[bi, hi, top, :], k.transpose(-2, -1)) * (1.0 / math.sqrt(e))   # [B, H, u, Lk]
    context = v.mean(dim=-2).unsqueeze(-2).expand(b, h, lq, v.shape[-1]).clone()
    context[bi, hi, top, :] = torch.matmul(torch.softmax(scores, dim=-1), v).type_as(context)
    return context, top


def torch_probsparse(L, factor):
    q, k, v = (torch.randn(B, H, L, D) for _ in range(3))

    def run():
        with torch.no_grad():
            return prob_attention_reference(q, k, v, factor)

    return cpu_seconds(run, max_reps=20)


def torch_full(L):
    q, k, v = (torch.randn(B * H, L, D) for _ in range(3))
    scale = 1.0 / math.sqrt(D)

    def run():
        with torch.no_grad():
            s = torch.bmm(q, k.transpose(1, 2)) * scale
            return torch.bmm(torch.softmax(s, dim=-1), v)

    return cpu_seconds(run, max_reps=20)


def blas_library():
    """The BLAS shared object mapped into this process (after a matrix product), or '?'."""
    torch.mm(torch.ones(64, 64), torch.ones(64, 64))
    try:
        with open("/proc/self/maps") as f:
            libs = {ln.split()[-1] for ln in f if re.search(r"blas|mkl", ln.split()[-1], re.I)}
    except OSError:
        return "?"
    return ", ".join(sorted(libs)) or "? (none mapped: statically linked)"


UNITS = {"ns": 1e-9, "us": 1e-6, "ms": 1e-3, "s": 1.0}


def eigenrec_times(bench, min_time):
    """{("BM_ProbSparse" | "BM_FullTiled", L): best CPU seconds}; None if the program is missing."""
    if not (os.path.isfile(bench) and os.access(bench, os.X_OK)):
        return None
    out = subprocess.run([bench, "--benchmark_format=json", "--benchmark_filter=^(BM_ProbSparse|BM_FullTiled)/",
                          "--benchmark_min_time=%g" % min_time], check=True, capture_output=True, text=True).stdout
    res = {}
    for b in json.loads(out)["benchmarks"]:
        if b.get("run_type", "iteration") != "iteration" or b.get("error_occurred"):
            continue
        mt = re.match(r"^(BM_ProbSparse|BM_FullTiled)/(\d+)", b["name"])
        if not mt:
            continue
        key = (mt.group(1), int(mt.group(2)))
        t = b["cpu_time"] * UNITS[b.get("time_unit", "ns")]
        res[key] = min(t, res.get(key, float("inf")))
    return res


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--bench", default="build/release/bench/bench_informer")
    ap.add_argument("--lengths", default="1024,2048,4096,8192")
    ap.add_argument("--with-16384", action="store_true", help="also L = 16384")
    ap.add_argument("--full-max", type=int, default=8192, help="largest L for PyTorch full attention")
    ap.add_argument("--factor", type=int, default=5)
    ap.add_argument("--min-time", type=float, default=0.3, help="eigenrec --benchmark_min_time")
    ap.add_argument("--no-eigenrec", action="store_true", help="PyTorch numbers only")
    ap.add_argument("--plot", default=None, help="write a log-log time-vs-L PNG here")
    args = ap.parse_args()
    lengths = [int(x) for x in args.lengths.split(",") if x]
    if args.with_16384 and 16384 not in lengths:
        lengths.append(16384)

    ours = None if args.no_eigenrec else eigenrec_times(args.bench, args.min_time)
    if ours is None and not args.no_eigenrec:
        print("(%s not found: PyTorch numbers only)" % args.bench)
    ours = ours or {}

    def ms(x):
        return "%10.1f" % (1e3 * x) if x == x else "         -"

    def ratio(a, b):
        return "%8.2fx" % (a / b) if a == a and b == b else "        -"

    print("torch %s, 1 thread, float32; B=%d H=%d d=%d, self-attention unmasked, factor %d; CPU ms per call"
          % (torch.__version__, B, H, D, args.factor))
    print("torch BLAS: %s\n" % blas_library())
    print("    L   U   u  torch prob  eig prob  torch/eig  torch full  eig full(tiled)")
    rows = []
    for L in lengths:
        U, u = sample_counts(args.factor, L, L)
        tp = torch_probsparse(L, args.factor)
        tf = torch_full(L) if L <= args.full_max else NAN
        ep = ours.get(("BM_ProbSparse", L), NAN)
        ef = ours.get(("BM_FullTiled", L), NAN)
        rows.append((L, tp, ep, tf, ef))
        print("%5d %3d %3d  %s %s  %s  %s  %s" % (L, U, u, ms(tp), ms(ep), ratio(tp, ep), ms(tf), ms(ef)))
        sys.stdout.flush()
    for name, col in (("ProbSparse", 2), ("full (tiled)", 4)):
        t = {r[0]: r[col] for r in rows}
        a, b = t.get(16384, NAN), t.get(8192, NAN)
        if a == a and b == b:
            print("eigenrec %s t(16384)/t(8192) = %.2f (L log L: %.2f, L^2: 4)" %
                  (name, a / b, 2 * math.log(16384) / math.log(8192)))
    for name, col in (("torch ProbSparse", 1),):
        t = {r[0]: r[col] for r in rows}
        if 16384 in t and 8192 in t:
            print("%s t(16384)/t(8192) = %.2f" % (name, t[16384] / t[8192]))

    if not args.plot:
        return 0
    try:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        print("matplotlib is not available: no plot written")
        return 0
    fig, ax = plt.subplots(figsize=(6, 4))
    series = (("PyTorch ProbSparse", 1, "o-", "C0"), ("eigenrec ProbSparse", 2, "^-", "C2"),
              ("PyTorch full", 3, "o--", "C0"), ("eigenrec full (tiled)", 4, "^--", "C2"))
    for label, col, style, color in series:
        pts = [(r[0], r[col] * 1e3) for r in rows if r[col] == r[col]]
        if pts:
            ax.loglog([p[0] for p in pts], [p[1] for p in pts], style, color=color, label=label)
    ax.set_xlabel("sequence length L (H=%d, d=%d, factor %d, 1 thread)" % (H, D, args.factor))
    ax.set_ylabel("forward CPU time [ms]")
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    os.makedirs(os.path.dirname(args.plot) or ".", exist_ok=True)
    fig.savefig(args.plot, dpi=110)
    print("\nplot written to", args.plot)
    return 0


if __name__ == "__main__":
    sys.exit(main())
