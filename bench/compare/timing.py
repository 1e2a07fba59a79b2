"""Timing helper shared by the comparison scripts in bench/compare/."""

import time


def cpu_seconds(fn, min_time=0.5, max_reps=50):
    """Best process CPU time of one call of fn(), after a warm-up call: repeats until
    min_time of CPU time and at least two calls (at most max_reps; a call longer than
    4 x min_time ends the loop). Process CPU time is steadier than wall time on a
    shared machine."""
    fn()
    best, total, reps = float("inf"), 0.0, 0
    while (total < min_time or reps < 2) and reps < max_reps:
        t0 = time.process_time()
        fn()
        dt = time.process_time() - t0
        best = min(best, dt)
        total += dt
        reps += 1
        if dt > 4 * min_time:
            break
    return best
