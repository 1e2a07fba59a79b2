#!/usr/bin/python3
"""FFM training: libffm's ffm-train against eigenrec-ffm-train, same file, same run.

    /usr/bin/python3 bench/compare/ffm.py --libffm /path/to/libffm/ffm-train \\
        --eigenrec build/release/examples/eigenrec-ffm-train \\
        --data /tmp/big.ffm --generate 2000000 --k 4 8 --threads 1 2 --epochs 2 --rounds 3

libffm is not packaged for Debian: build it from its sources (github.com/ycjuan/libffm,
`make` with its default USESSE / USEOMP flags) and pass the path of its ffm-train.
With --generate N and no file at --data, the data set is written first by the
eigenrec-ffm-generate next to --eigenrec (N examples x 39 fields, seed 1: a known FFM
plus noise). libffm trains from its binary cache (<data>.bin, built by a first untimed
run); eigenrec parses the text each run.

--modes chooses eigenrec's update steps: `exact` (the default step: IEEE sqrt and
division) and `rsqrt` (`--rsqrt`: libffm's SSE step, the approximate reciprocal square
root that libffm's default build uses); each mode gets its own row, measured in the same
rounds as libffm.

Both sides print per-epoch training time (tr_time, cumulative, excluding reading).
The host may be shared, so each configuration runs --rounds rounds of every program (the
order rotates every round) and the script prints every round's ratio, the median
ratio and the ratio of the best times; contention only ever adds time, so the best-vs-best
ratio is the least disturbed single number, and the spread of the rounds says how much the
host moved. Peak memory (max RSS of each process) is reported too.
"""
import argparse
import os
import statistics
import subprocess
import sys


def run(cmd, cwd=None):
    """Runs cmd (in cwd); returns (stdout, max RSS in MB). Fails loudly on a non-zero exit."""
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, cwd=cwd)
    out = proc.stdout.read()
    _, status, usage = os.wait4(proc.pid, 0)
    proc.returncode = os.waitstatus_to_exitcode(status)
    if proc.returncode != 0:
        sys.exit("command failed (exit %d): %s\n%s" % (proc.returncode, " ".join(cmd), out[-2000:]))
    return out, usage.ru_maxrss / 1024.0


def last_epoch(out, epochs):
    """(tr_logloss, tr_time) of the last epoch row of an ffm-train style table."""
    rows = []
    for line in out.splitlines():
        parts = line.split()
        if len(parts) >= 3 and parts[0].isdigit():
            try:
                rows.append((int(parts[0]), float(parts[1]), float(parts[2])))
            except ValueError:
                continue
    if not rows or rows[-1][0] != epochs:
        sys.exit("could not find epoch %d in the output:\n%s" % (epochs, out[-2000:]))
    return rows[-1][1], rows[-1][2]


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--libffm", required=True, help="libffm's ffm-train")
    ap.add_argument("--eigenrec", required=True, help="eigenrec-ffm-train")
    ap.add_argument("--data", required=True, help="libffm text file (field:feature:value)")
    ap.add_argument("--generate", type=int, default=0, help="write N examples to --data if it is missing")
    ap.add_argument("--k", type=int, nargs="+", default=[4, 8])
    ap.add_argument("--threads", type=int, nargs="+", default=[1])
    ap.add_argument("--epochs", type=int, default=2)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--modes", nargs="+", choices=["exact", "rsqrt"], default=["exact", "rsqrt"],
                    help="eigenrec's update steps to measure")
    ap.add_argument("--model", default=None, help="scratch model path (default: <data>.model)")
    args = ap.parse_args()
    # libffm writes its cache as basename(data).bin in the current directory: it runs in
    # the data's directory, so that the cache is <data>.bin and nothing lands elsewhere.
    args.data = os.path.abspath(args.data)
    args.libffm = os.path.abspath(args.libffm)
    data_dir = os.path.dirname(args.data)

    if not os.path.exists(args.data):
        if args.generate <= 0:
            sys.exit("%s does not exist (use --generate N to write it)" % args.data)
        gen = os.path.join(os.path.dirname(os.path.abspath(args.eigenrec)), "eigenrec-ffm-generate")
        print(run([gen, "--examples", str(args.generate), "--seed", "1", args.data])[0].strip())
    model = os.path.abspath(args.model or args.data + ".model")
    if not os.path.exists(args.data + ".bin"):
        run([args.libffm, "-t", "1", "-k", "4", "-s", "1", args.data, model], cwd=data_dir)  # builds libffm's cache

    print("| k | threads | eigenrec step | libffm tr_time s (rounds) | eigenrec tr_time s (rounds) "
          "| speed-up per round (libffm time / eigenrec time) | median | best vs best | logloss libffm / eigenrec "
          "| peak MB libffm / eigenrec |")
    print("|---|---|---|---|---|---|---|---|---|---|")
    for k in args.k:
        for s in args.threads:
            cmds = {"libffm": [args.libffm, "-s", str(s), "-t", str(args.epochs), "-k", str(k), args.data, model]}
            for mode in args.modes:
                cmds[mode] = [args.eigenrec, "-s", str(s), "-t", str(args.epochs), "-k", str(k), "--seed", "1"] + \
                             (["--rsqrt"] if mode == "rsqrt" else []) + [args.data, model]
            times = {who: [] for who in cmds}
            loss = {}
            mem = {who: 0.0 for who in cmds}
            names = list(cmds)
            for r in range(args.rounds):
                order = names[r % len(names):] + names[:r % len(names)]  # rotate who runs first
                for who in order:
                    out, rss = run(cmds[who], cwd=data_dir if who == "libffm" else None)
                    loss[who], t = last_epoch(out, args.epochs)
                    times[who].append(t)
                    mem[who] = max(mem[who], rss)
                print("  k=%d s=%d round %d: %s" % (k, s, r + 1, ", ".join(
                    "%s %.1f s" % (who, times[who][-1]) for who in names)), file=sys.stderr)
            lib_t = times["libffm"]
            for mode in args.modes:
                own_t = times[mode]
                ratios = [a / b for a, b in zip(lib_t, own_t)]
                print("| %d | %d | %s | %s | %s | %s | %.2fx | %.2fx | %.5f / %.5f | %.0f / %.0f |" % (
                    k, s, mode, ", ".join("%.1f" % t for t in lib_t), ", ".join("%.1f" % t for t in own_t),
                    ", ".join("%.2f" % x for x in ratios), statistics.median(ratios), min(lib_t) / min(own_t),
                    loss["libffm"], loss[mode], mem["libffm"], mem[mode]))
    if os.path.exists(model):
        os.remove(model)


if __name__ == "__main__":
    main()
