#!/usr/bin/python3
"""word2vec: eigenrec-word2vec against gensim 4.2, same corpus, same settings, same run.

Usage (from the repository root, after a Release build of the tool):
  cmake -S . -B build/release -DCMAKE_BUILD_TYPE=Release -DEIGENREC_NATIVE=ON
  cmake --build build/release --target eigenrec-word2vec
  nice /usr/bin/python3 bench/compare/word2vec.py --tool build/release/examples/eigenrec-word2vec

For each architecture (skip-gram, CBOW) it runs, one after the other:
  gensim:   Word2Vec(LineSentence(corpus, max_sentence_length=1000), vector_size=100, window=5,
            negative=5, sample=1e-4, min_count=5, epochs=1, workers=1, sg=..,
            alpha=word2vec.c's default (0.025 sg, 0.05 cbow), min_alpha=alpha*1e-4, seed=S)
  eigenrec: eigenrec-word2vec -train corpus -size 100 -window 5 -negative 5 -sample 1e-4
            -min-count 5 -iter 1 -threads 1 -cbow .. -binary 1 -seed S -init-range R
and, for eigenrec, the same with -threads 2, for each seed S of --seeds (default 1).
R (--init-range, default 1) is gensim 4's initial range, U[-1, 1)/size, so that both
start alike; word2vec.c's is 0.5 (eigenrec's default). With several seeds the table ends
with the mean of each run over the seeds. Each run is a separate process timed
whole (vocabulary pass + training + writing the vectors); its peak memory is the
child's max RSS. Both models' vectors are then scored by the same code, gensim's
KeyedVectors.evaluate_word_analogies (restrict_vocab=30000, questions lower-cased, as the
corpus is) and evaluate_word_pairs on WordSim-353.
"""
import argparse
import json
import os
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.normpath(os.path.join(HERE, "..", ".."))
SHARED = os.path.normpath(os.path.join(ROOT, "..", "..", "shared", "data"))
if not os.path.isdir(SHARED):
    SHARED = "/work/shared/data"

GENSIM_TRAIN = r"""
import sys, logging
from gensim.models import Word2Vec
from gensim.models.word2vec import LineSentence
corpus, out, sg, seed = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
alpha = 0.025 if sg else 0.05
m = Word2Vec(LineSentence(corpus, max_sentence_length=1000), vector_size=100, window=5, negative=5, hs=0,
             sample=1e-4, min_count=5, epochs=1, workers=1, sg=sg, alpha=alpha, min_alpha=alpha * 1e-4, seed=seed)
m.wv.save_word2vec_format(out, binary=True)
"""

EVALUATE = r"""
import sys, json
from gensim.models import KeyedVectors
kv = KeyedVectors.load_word2vec_format(sys.argv[1], binary=True)
score, sections = kv.evaluate_word_analogies(sys.argv[2], restrict_vocab=30000, case_insensitive=True)
total = sections[-1]
pearson, spearman, oov = kv.evaluate_word_pairs(sys.argv[3], case_insensitive=True)
print(json.dumps({"analogy": score, "seen": len(total["correct"]) + len(total["incorrect"]),
                  "spearman": float(spearman[0]), "oov": oov}))
"""


def run(cmd):
    """Runs cmd; returns (wall seconds, CPU seconds, max RSS in MB). CPU time (user +
    system) is less disturbed than wall time when other work shares the machine."""
    start = time.monotonic()
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    _, status, usage = os.wait4(proc.pid, 0)
    seconds = time.monotonic() - start
    err = proc.stderr.read().decode(errors="replace")
    if status != 0:
        sys.exit("command failed: %s\n%s" % (" ".join(cmd), err))
    return seconds, usage.ru_utime + usage.ru_stime, usage.ru_maxrss / 1024.0


def evaluate(vectors, questions, wordsim):
    out = subprocess.run(["/usr/bin/python3", "-c", EVALUATE, vectors, questions, wordsim], check=True,
                         capture_output=True, text=True).stdout
    return json.loads(out.strip().splitlines()[-1])


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--tool", default=os.path.join(ROOT, "build", "release", "examples", "eigenrec-word2vec"))
    ap.add_argument("--corpus", default=None, help="plain text corpus (default: unpack english.txt.xz to /tmp)")
    ap.add_argument("--modes", default="sg,cbow")
    ap.add_argument("--skip-gensim", action="store_true")
    ap.add_argument("--seeds", default="1", help="comma-separated seeds, each run for both sides")
    ap.add_argument("--init-range", default="1", help="eigenrec -init-range (1 = gensim's initialisation)")
    ap.add_argument("--threads", default="1,2", help="eigenrec thread counts")
    args = ap.parse_args()
    seeds = [int(s) for s in args.seeds.split(",")]
    thread_counts = [int(t) for t in args.threads.split(",")]

    work = tempfile.mkdtemp(prefix="eigenrec-w2v-")
    corpus = args.corpus
    if corpus is None:
        corpus = os.path.join(tempfile.gettempdir(), "eigenrec-english.txt")
        if not os.path.exists(corpus):
            with open(corpus, "wb") as f:
                subprocess.run(["xz", "-dc", os.path.join(SHARED, "corpus", "english.txt.xz")], stdout=f, check=True)
    questions = os.path.join(work, "questions-lower.txt")
    with open(os.path.join(SHARED, "word2vec", "questions-words.txt")) as f, open(questions, "w") as g:
        g.write(f.read().lower())
    wordsim = os.path.join(SHARED, "word2vec", "wordsim353.tsv")

    rows = []
    means = []
    for mode in args.modes.split(","):
        sg = 1 if mode == "sg" else 0
        per_run = {}
        for seed in seeds:
            results = {}
            if not args.skip_gensim:
                out = os.path.join(work, "gensim-%s.bin" % mode)
                secs, cpu, rss = run(["/usr/bin/python3", "-c", GENSIM_TRAIN, corpus, out, str(sg), str(seed)])
                results["gensim"] = dict(seconds=secs, cpu=cpu, rss=rss, **evaluate(out, questions, wordsim))
            for threads in thread_counts:
                out = os.path.join(work, "eigenrec-%s-%d.bin" % (mode, threads))
                secs, cpu, rss = run([args.tool, "-train", corpus, "-output", out, "-size", "100", "-window", "5",
                                      "-negative", "5", "-sample", "1e-4", "-min-count", "5", "-iter", "1",
                                      "-threads", str(threads), "-cbow", str(1 - sg), "-binary", "1", "-debug", "0",
                                      "-seed", str(seed), "-init-range", args.init_range])
                results["eigenrec-%dt" % threads] = dict(seconds=secs, cpu=cpu, rss=rss,
                                                         **evaluate(out, questions, wordsim))
            for name, r in results.items():
                rows.append((mode, "%s, seed %d" % (name, seed), r))
                per_run.setdefault(name, []).append(r)
            report(mode, seed, results)
        if len(seeds) > 1:
            for name, rs in per_run.items():
                means.append((mode, "%s, mean of %d seeds" % (name, len(rs)),
                              {k: sum(r[k] for r in rs) / len(rs) for k in rs[0]}))
    rows.extend(means)

    print()
    print("| mode | run | wall s | CPU s | peak RSS (MB) | analogy top-30000 | questions seen | WordSim-353 Spearman |")
    print("|---|---|---|---|---|---|---|---|")
    for mode, name, r in rows:
        print("| %s | %s | %.1f | %.1f | %.0f | %.2f%% | %d | %.3f |" %
              (mode, name, r["seconds"], r["cpu"], r["rss"], 100 * r["analogy"], r["seen"], r["spearman"]))


def report(mode, seed, results):
    """One line per seed: thread scaling, and the gap to gensim when it ran."""
    base = results.get("gensim")
    one = results.get("eigenrec-1t")
    two = results.get("eigenrec-2t")
    if one and two:
        print("%s seed %d: eigenrec 1 thread %.1f s, 2 threads %.1f s (x%.2f)" %
              (mode, seed, one["seconds"], two["seconds"], one["seconds"] / two["seconds"]))
    if base and one:
        print("%s seed %d: speed-up over gensim (1 worker): x%.2f wall, x%.2f CPU; analogy %+.2f points; "
              "WordSim-353 Spearman %+.3f" %
              (mode, seed, base["seconds"] / one["seconds"], base["cpu"] / one["cpu"],
               100 * (one["analogy"] - base["analogy"]), one["spearman"] - base["spearman"]))
    sys.stdout.flush()


if __name__ == "__main__":
    main()
