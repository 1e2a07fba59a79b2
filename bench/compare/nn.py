#!/usr/bin/python3
"""The same MLP training step in eigenrec and in PyTorch (1 thread), same run.

Step: MLP in -> hidden -> hidden -> 1 (ReLU), BCE-with-logits loss, backward (no input
gradient, as PyTorch for data without requires_grad), Adam.
eigenrec's number comes from bench_nn's BM_MLPTrainStep (Google Benchmark, JSON);
PyTorch's from timing the equivalent torch code here. The machine may be shared, so
both sides are measured in several alternating rounds and the fastest round of each
is compared (contention only ever adds time).

Usage: /usr/bin/python3 bench/compare/nn.py [path/to/bench_nn] [rounds]
(default build/bench/bench/bench_nn, as built by scripts/bench; 3 rounds)
"""
import json
import os
import subprocess
import sys
import time

# torch.set_num_threads(1) limits PyTorch's own (OpenMP) pool only. Debian's torch does
# its float matrix products in the system BLAS (OpenBLAS when libopenblas is installed),
# whose pthread pool ignores it and uses every core. The pools read these variables when
# the libraries load, so they are set before torch is imported.
for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ[_var] = "1"

import torch  # noqa: E402

SHAPES = [(256, 256, 512), (1024, 256, 512), (1024, 512, 1024)]


def blas_library():
    """The BLAS that torch loaded (Debian's torch uses the system libblas.so.3)."""
    torch.mm(torch.ones(64, 64), torch.ones(64, 64))
    with open("/proc/self/maps") as f:
        paths = {line.split()[-1] for line in f if "blas" in line.lower() and "/" in line}
    real = {os.path.realpath(p) for p in paths}
    return sorted(real)


def check_peer_blas():
    # Without libopenblas, Debian's libblas.so.3 is the reference (netlib) BLAS, some 30x
    # slower than an optimised one: a comparison against it would mean nothing.
    libs = blas_library()
    blas = [p for p in libs if os.path.basename(p).startswith("libblas.so")]
    if any(not ("openblas" in p or "mkl" in p or "blis" in p) for p in blas):
        sys.exit("PyTorch runs on the reference BLAS (%s); install an optimised one first "
                 "(apt-get install libopenblas-dev)" % ", ".join(libs))
    return libs


def torch_step_seconds(batch, fin, hidden, repeats=20):
    torch.set_num_threads(1)
    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Linear(fin, hidden), torch.nn.ReLU(), torch.nn.Linear(hidden, hidden),
                                torch.nn.ReLU(), torch.nn.Linear(hidden, 1))
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    loss_fn = torch.nn.BCEWithLogitsLoss()
    x = torch.randn(batch, fin)
    y = (torch.randn(batch, 1) > 0).float()

    def step():
        opt.zero_grad()
        loss = loss_fn(model(x), y)
        loss.backward()
        opt.step()

    for _ in range(3):
        step()
    times = []
    cpu0 = time.process_time()
    wall0 = time.perf_counter()
    for _ in range(repeats):
        t0 = time.perf_counter()
        step()
        times.append(time.perf_counter() - t0)
    cpu_per_wall = (time.process_time() - cpu0) / (time.perf_counter() - wall0)
    if cpu_per_wall > 1.2:
        sys.exit("PyTorch used %.1f cores for a 1-thread step: some thread pool is not pinned" % cpu_per_wall)
    times.sort()
    return times[len(times) // 2]


def eigenrec_step_seconds(binary):
    out = subprocess.run([binary, "--benchmark_filter=BM_MLPTrainStep", "--benchmark_format=json",
                          "--benchmark_min_time=0.3"], check=True, capture_output=True, text=True,
                         env=dict(os.environ, OPENBLAS_NUM_THREADS="1")).stdout
    result = {}
    for b in json.loads(out)["benchmarks"]:
        parts = dict(p.split(":") for p in b["name"].split("/")[1:])
        key = (int(parts["batch"]), int(parts["in"]), int(parts["hidden"]))
        scale = {"ns": 1e-9, "us": 1e-6, "ms": 1e-3, "s": 1.0}[b["time_unit"]]
        result[key] = b["real_time"] * scale
    return result


def main():
    binary = sys.argv[1] if len(sys.argv) > 1 else os.path.join("build", "bench", "bench", "bench_nn")
    rounds = int(sys.argv[2]) if len(sys.argv) > 2 else 3
    ours = {s: float("inf") for s in SHAPES}
    theirs = {s: float("inf") for s in SHAPES}
    libs = check_peer_blas()
    for _ in range(rounds):
        for s, t in eigenrec_step_seconds(binary).items():
            ours[s] = min(ours[s], t)
        for s in SHAPES:
            theirs[s] = min(theirs[s], torch_step_seconds(*s))
    print("MLP training step (in -> hidden -> hidden -> 1, ReLU, BCE, Adam), float32, 1 thread, best of %d rounds"
          % rounds)
    print("%-24s %12s %12s %8s" % ("batch/in/hidden", "eigenrec ms", "PyTorch ms", "ratio"))
    for s in SHAPES:
        print("%-24s %12.3f %12.3f %7.2fx" % ("%d/%d/%d" % s, ours[s] * 1e3, theirs[s] * 1e3, theirs[s] / ours[s]))
    print("(ratio = PyTorch time / eigenrec time; > 1 means eigenrec is faster; PyTorch's BLAS: %s)"
          % (", ".join(libs) if libs else "none loaded"))


if __name__ == "__main__":
    main()
