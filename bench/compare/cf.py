"""ItemCF / UserCF on MovieLens 100K: a straightforward dense NumPy/SciPy implementation
against eigenrec-cf, same data, same formulas, same run.

    /usr/bin/python3 bench/compare/cf.py --data /work/shared/data/ml-100k \
        --binary build/release/examples/eigenrec-cf

Protocol (Xiang Liang, "Recommender Systems Practice", ch. 2): ua.base for training,
ua.test for testing, every rating is a binary implicit interaction, N = 10 items per
user (seen items excluded), precision@N / recall@N averaged over test users, coverage =
distinct recommended items / training items, popularity = mean log(1 + training count)
of the recommended items.

Dense peer (one BLAS thread):
  ItemCF   C = R^T D R  (D = I, or diag(1 / ln(1 + |N(u)|)) for IUF), W = C / sqrt(n_i n_j),
           zero diagonal, keep each row's K largest (ties: smaller index), P = R W_K
  UserCF   C = R D R^T  (D = I, or diag(1 / ln(1 + |N(i)|)) for IIF), W as above,
           P = W_K R
  top-N    of P with seen items masked (ties: smaller index)
Indices follow the order of first appearance in ua.base, as in eigenrec, so that ties
break the same way. Timing: fit (similarities + pruning) plus top-N for every user,
best of --repeat runs, for both implementations.
"""

import argparse
import os
import re
import subprocess
import sys
import time

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("MKL_NUM_THREADS", "1")

import numpy as np  # noqa: E402
import scipy.sparse as sp  # noqa: E402


def read(path, users, items):
    rows, cols = [], []
    with open(path) as f:
        for line in f:
            parts = line.split("\t")
            if len(parts) < 2:
                continue
            rows.append(users.setdefault(parts[0], len(users)))
            cols.append(items.setdefault(parts[1], len(items)))
    return np.array(rows), np.array(cols)


def top_k_rows(S, K):
    """Keep each row's K largest entries (ties: smaller index)."""
    n = S.shape[0]
    order = np.argsort(-S, axis=1, kind="stable")[:, :K]
    out = np.zeros_like(S)
    rows = np.arange(n)[:, None]
    out[rows, order] = S[rows, order]
    return out


def dense_cf(R, model, weighted, K, N):
    """R: binary csr (users, items). Returns the top-N lists (users, N)."""
    if model == "itemcf":
        X = R.T.tocsr()  # items over users
        feature_count = np.asarray(R.sum(axis=1)).ravel()  # |N(u)|
    else:
        X = R
        feature_count = np.asarray(R.sum(axis=0)).ravel()  # |N(i)|
    if weighted:
        D = sp.diags(1.0 / np.log1p(feature_count))
        C = (X @ D @ X.T).toarray()
    else:
        C = (X @ X.T).toarray()
    n = np.asarray(X.sum(axis=1)).ravel()
    W = C / np.sqrt(np.outer(n, n))
    np.fill_diagonal(W, 0.0)
    WK = top_k_rows(W, K)
    if model == "itemcf":
        P = np.asarray(R @ WK)
    else:
        P = WK @ R.toarray()
    P[R.nonzero()] = -np.inf
    return np.argsort(-P, axis=1, kind="stable")[:, :N]


def evaluate(top, test_lists, popularity, n_items, N):
    precision, recall, shown = [], [], []
    for u, truth in test_lists.items():
        rec = top[u][:N]
        hits = len(set(rec.tolist()) & truth)
        precision.append(hits / N)
        recall.append(hits / len(truth))
        shown.extend(rec.tolist())
    coverage = len(set(shown)) / n_items
    pop = float(np.mean(np.log1p(popularity[np.array(shown)])))
    return float(np.mean(precision)), float(np.mean(recall)), coverage, pop


def run_eigenrec(binary, base, test, model, similarity, K, N, threads):
    cmd = [binary, "--train", base, "--test", test, "--model", model, "--similarity", similarity,
           "--k", str(K), "--n", str(N), "--threads", str(threads), "--recommend", os.devnull]
    res = subprocess.run(cmd, capture_output=True, text=True, check=True)
    metrics = dict(line.split() for line in res.stdout.strip().splitlines())
    fit = float(re.search(r"^fit ([0-9.]+) s", res.stderr, re.M).group(1))
    rec = float(re.search(r"^recommend all \d+ users ([0-9.]+) s", res.stderr, re.M).group(1))
    return metrics, fit + rec


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--data", default="/work/shared/data/ml-100k")
    ap.add_argument("--binary", default="build/release/examples/eigenrec-cf")
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--threads", type=int, default=1)
    args = ap.parse_args()
    base, test = os.path.join(args.data, "ua.base"), os.path.join(args.data, "ua.test")

    users, items = {}, {}
    r, c = read(base, users, items)
    n_train_items = len(items)
    R = sp.csr_matrix((np.ones(len(r)), (r, c)), shape=(len(users), n_train_items))
    R.data[:] = 1.0  # duplicates (none in ua.base) would stay binary
    popularity = np.asarray(R.sum(axis=0)).ravel()
    tr, tc = read(test, users, items)
    test_lists = {}
    for u, i in zip(tr, tc):
        test_lists.setdefault(int(u), set()).add(int(i))
    N = 10
    print("ml-100k ua.base: %d users, %d items, %d interactions; ua.test: %d users; N = %d"
          % (R.shape[0], R.shape[1], R.nnz, len(test_lists), N))
    print("%-22s %4s | %9s %9s %8s %8s | %9s %9s %8s %8s | %8s %8s %6s"
          % ("model", "K", "prec(np)", "prec(er)", "cov(np)", "cov(er)", "rec(np)", "rec(er)",
             "pop(np)", "pop(er)", "t_np ms", "t_er ms", "ratio"))
    configs = [("itemcf", "cosine", False), ("itemcf", "iuf", True),
               ("usercf", "cosine", False), ("usercf", "iif", True)]
    worst = 0.0
    for model, similarity, weighted in configs:
        for K in (10, 40):
            t_np = float("inf")
            for _ in range(args.repeat):
                t0 = time.perf_counter()
                top = dense_cf(R, model, weighted, K, N)
                t_np = min(t_np, time.perf_counter() - t0)
            p, rc, cov, pop = evaluate(top, test_lists, popularity, n_train_items, N)
            t_er = float("inf")
            for _ in range(args.repeat):
                m, t = run_eigenrec(args.binary, base, test, model, similarity, K, N, args.threads)
                t_er = min(t_er, t)
            pe = float(m["precision@10"])
            worst = max(worst, abs(pe - p))
            name = "%s-%s" % ("ItemCF" if model == "itemcf" else "UserCF",
                              {"cosine": "cosine", "iuf": "IUF", "iif": "IIF"}[similarity])
            print("%-22s %4d | %9.4f %9.4f %8.4f %8.4f | %9.4f %9.4f %8.4f %8.4f | %8.1f %8.1f %6.1f"
                  % (name, K, p, pe, cov, float(m["coverage"]), rc, float(m["recall@10"]), pop,
                     float(m["popularity"]), 1e3 * t_np, 1e3 * t_er, t_np / t_er))
            sys.stdout.flush()
    print("largest |precision difference| = %.4f" % worst)


if __name__ == "__main__":
    main()
