"""The course's planar run (n_h = 4, 10,000 iterations, learning rate 1.2, its initial
weights) in every backend, side by side in one run: wall time and training accuracy.

    python examples/planar_report.py [--rounds 5] [--python-rounds 1]

The rounds are interleaved (each round runs every backend once) and the median is
reported, so the backends see the same machine conditions.
"""

from __future__ import annotations

import argparse
import statistics
import time

import fastnn


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--python-rounds", type=int, default=1, help="the loops take ~20 s a run")
    args = parser.parse_args()
    X, Y = fastnn.datasets.load_planar()
    backends = [r.name for r in fastnn.backends() if r.available]
    times: dict[str, list[float]] = {name: [] for name in backends}
    results = {}
    for name in backends:  # warm-up: numba compiles or loads its cache here
        if name != "python":
            fastnn.mlp.nn_model(X, Y, 4, num_iterations=10, random_state=2, backend=name)
    for round_ in range(args.rounds):
        for name in backends:
            if name == "python" and round_ >= args.python_rounds:
                continue
            start = time.perf_counter()
            params = fastnn.mlp.nn_model(
                X, Y, 4, num_iterations=10_000, learning_rate=1.2, random_state=2, backend=name
            )
            times[name].append(time.perf_counter() - start)
            results[name] = params
    reference = statistics.median(times["numpy"])
    threads = fastnn.get_num_threads()
    print(f"planar nn_model, 10,000 iterations, n_h = 4 (median of interleaved rounds; {threads} threads)")
    print(f"{'backend':8s} {'wall time':>10s} {'vs numpy':>9s} {'accuracy':>9s}  runs")
    for name in backends:
        median = statistics.median(times[name])
        accuracy = float((fastnn.mlp.predict(results[name], X, backend="numpy") == Y).mean())
        runs = len(times[name])
        print(f"{name:8s} {median:9.3f}s {reference / median:8.1f}x {100 * accuracy:8.2f}%  {runs}")


if __name__ == "__main__":
    main()
