"""A fuzz target over the whole public API: arbitrary arguments (None, scalars, strings,
nested lists, arrays of every dtype and shape, empty, NaN, inf, huge, tiny, non-contiguous)
to every function in every backend.  Each call returns, or raises ValueError / TypeError /
FloatingPointError (fastnn's documented errors) — never another exception, never a crash
(a segfault would take the test process down).

CI runs it bounded (the ``ci`` hypothesis profile); run it long locally with

    HYPOTHESIS_PROFILE=long pytest tests/test_fuzz.py -x
"""

from __future__ import annotations

import warnings

import numpy as np
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra.numpy import array_shapes, arrays

import fastnn
from fastnn import logreg, mlp

EXPECTED = (ValueError, TypeError, FloatingPointError)

special_floats = st.sampled_from([0.0, -0.0, 1.0, -1.0, 0.5, 2.0, 1e-320, 1e300, -1e300, np.inf, -np.inf, np.nan])
float_dtypes = st.sampled_from(["float64", "float32", "float16", ">f8", "<f4"])
other_dtypes = st.sampled_from(["int64", "int8", "uint8", "bool", "complex128", "object", "U3"])


def any_array(max_side=6):
    return st.one_of(
        arrays(float_dtypes, array_shapes(min_dims=0, max_dims=3, min_side=0, max_side=max_side),
               elements=st.one_of(st.floats(-1e3, 1e3, width=16), special_floats)),
        arrays(other_dtypes, array_shapes(min_dims=0, max_dims=2, min_side=0, max_side=max_side)),
    )


def odd_layout(a):
    if isinstance(a, np.ndarray) and a.ndim == 2 and a.size:
        return st.sampled_from([a, np.asfortranarray(a), a[:, ::-1], np.broadcast_to(a[:, :1], a.shape)])
    return st.just(a)


anything = st.one_of(
    st.none(), st.integers(-5, 5), st.floats(allow_nan=True), st.text(max_size=3), st.booleans(),
    st.complex_numbers(max_magnitude=10), st.lists(st.floats(-5, 5), max_size=4),
    st.lists(st.lists(st.floats(-5, 5), min_size=1, max_size=3), max_size=3),
    any_array().flatmap(odd_layout),
)


@st.composite
def plausible(draw):
    """Mostly-valid 2-layer problems with one or two arguments swapped for anything."""
    n_x, n_h, n_y, m = (draw(st.integers(0, 4)) for _ in range(4))
    rng = np.random.RandomState(draw(st.integers(0, 1000)))
    args = {
        "X": rng.standard_normal((n_x, m)),
        "Y": (rng.rand(n_y, m) > 0.5).astype(float),
        "w": rng.standard_normal((n_x, 1)),
        "b": 0.1,
        "params": {"W1": rng.standard_normal((n_h, n_x)), "b1": np.zeros((n_h, 1)),
                   "W2": rng.standard_normal((n_y, n_h)), "b2": np.zeros((n_y, 1))},
        "learning_rate": draw(st.sampled_from([0.1, 1.2, 1e300, -1.0, 0.0, np.nan])),
        "num_iterations": draw(st.sampled_from([1, 3, 0, -1, 2.5])),
        "activation": draw(st.sampled_from(["tanh", "relu", "sigmoid", "nope"])),
    }
    for key in draw(st.lists(st.sampled_from([*list(args), "W1", "b1", "W2", "b2"]), max_size=2)):
        if key in ("W1", "b1", "W2", "b2") and isinstance(args["params"], dict):
            args["params"] = {**args["params"], key: draw(anything)}
        else:
            args[key] = draw(anything)
    return args


FUNCTIONS = {
    "sigmoid": lambda a, be: fastnn.sigmoid(a["X"], backend=be),
    "dot": lambda a, be: fastnn.dot(a["X"], a["w"], backend=be),
    "logreg.forward": lambda a, be: logreg.forward(a["w"], a["b"], a["X"], backend=be),
    "logreg.propagate": lambda a, be: logreg.propagate(a["w"], a["b"], a["X"], a["Y"], backend=be),
    "logreg.optimize": lambda a, be: logreg.optimize(a["w"], a["b"], a["X"], a["Y"], a["num_iterations"], a["learning_rate"], backend=be),
    "logreg.predict": lambda a, be: logreg.predict(a["w"], a["b"], a["X"], backend=be),
    "mlp.forward_propagation": lambda a, be: mlp.forward_propagation(a["X"], a["params"], a["activation"], backend=be),
    "mlp.compute_cost": lambda a, be: mlp.compute_cost(a["X"], a["Y"], backend=be),
    "mlp.train_step": lambda a, be: mlp.train_step(a["params"], a["X"], a["Y"], a["learning_rate"], a["activation"], backend=be),
    "mlp.update_parameters": lambda a, be: mlp.update_parameters(a["params"], {"d" + k: v for k, v in a["params"].items()} if isinstance(a["params"], dict) else a["params"], a["learning_rate"], backend=be),
    "mlp.nn_model": lambda a, be: mlp.nn_model(a["X"], a["Y"], 3, a["num_iterations"], a["learning_rate"], random_state=0, activation=a["activation"], backend=be),
    "mlp.predict": lambda a, be: mlp.predict(a["params"], a["X"], a["activation"], backend=be),
    "mlp.backward_propagation": lambda a, be: mlp.backward_propagation(a["params"], {"A1": a["w"], "A2": a["Y"]}, a["X"], a["Y"], a["activation"], backend=be),
}


@given(args=plausible(), function=st.sampled_from(sorted(FUNCTIONS)))
def test_public_api_never_fails_unexpectedly(backend, args, function):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # DivergenceWarning, NumPy casting notes: allowed
        try:
            FUNCTIONS[function](args, backend)
        except EXPECTED:
            pass
