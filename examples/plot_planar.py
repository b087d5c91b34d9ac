"""Draw the course's planar example: the flower data and the decision boundary of the
2-layer network (n_h = 4, 10,000 iterations, learning rate 1.2, the course's initial
weights), trained with fastnn.

    python examples/plot_planar.py [--backend auto] [--out docs/planar_decision_boundary.png]

Needs matplotlib (``pip install fastnn[bench]``).
"""

from __future__ import annotations

import argparse
import time

import numpy as np

import fastnn


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--backend", default="auto")
    parser.add_argument("--hidden", type=int, default=4)
    parser.add_argument("--out", default="docs/planar_decision_boundary.png")
    args = parser.parse_args()
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        raise SystemExit("this script draws with matplotlib: pip install matplotlib") from None

    X, Y = fastnn.datasets.load_planar()
    start = time.perf_counter()
    params = fastnn.mlp.nn_model(
        X, Y, args.hidden, num_iterations=10000, random_state=2, backend=args.backend
    )
    seconds = time.perf_counter() - start
    accuracy = float((fastnn.mlp.predict(params, X, backend=args.backend) == Y).mean())
    backend = args.backend

    x_min, x_max = X[0].min() - 1, X[0].max() + 1
    y_min, y_max = X[1].min() - 1, X[1].max() + 1
    xx, yy = np.meshgrid(np.linspace(x_min, x_max, 400), np.linspace(y_min, y_max, 400))
    grid = np.vstack([xx.ravel(), yy.ravel()])
    Z = fastnn.mlp.predict(params, grid, backend=args.backend).reshape(xx.shape)

    fig, ax = plt.subplots(figsize=(6, 4.5), dpi=110)
    ax.contourf(xx, yy, Z, cmap=plt.cm.Spectral, alpha=0.8)
    ax.scatter(X[0], X[1], c=Y[0], s=12, cmap=plt.cm.Spectral, edgecolors="k", linewidths=0.3)
    ax.set_title(
        f"2-layer net, n_h = {args.hidden}: {100 * accuracy:.2f}% training accuracy\n"
        f"10,000 iterations in {seconds:.2f} s ({backend} backend)",
        fontsize=10,
    )
    ax.set_xlabel("$x_1$")
    ax.set_ylabel("$x_2$")
    fig.tight_layout()
    fig.savefig(args.out)
    print(f"wrote {args.out}: accuracy {100 * accuracy:.2f}%, fit {seconds:.3f} s with {backend}")


if __name__ == "__main__":
    main()
