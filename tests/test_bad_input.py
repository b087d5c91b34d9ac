"""The bad-input battery: every public function x every backend x every way an argument can
be wrong.  Each bad call raises ValueError or TypeError with a message naming the argument
(and the shapes, for shape errors), and leaves the caller's arrays untouched.  Odd but valid
layouts give the same answer as the plain case.
"""

from __future__ import annotations

import copy

import numpy as np
import pytest

import fastnn
from fastnn import logreg, mlp

N_X, N_H, M = 3, 4, 5


def good():
    """Fresh valid arguments for every function (a new copy per call)."""
    rng = np.random.RandomState(0)
    X = rng.standard_normal((N_X, M))
    Y = np.array([[1.0, 0.0, 1.0, 1.0, 0.0]])
    params = {
        "W1": rng.standard_normal((N_H, N_X)) * 0.5,
        "b1": rng.standard_normal((N_H, 1)) * 0.1,
        "W2": rng.standard_normal((1, N_H)) * 0.5,
        "b2": np.array([[0.1]]),
    }
    A2, cache = mlp.forward_propagation(X, params, backend="numpy")
    grads = mlp.backward_propagation(params, cache, X, Y, backend="numpy")
    return {
        "X": X, "Y": Y, "w": rng.standard_normal((N_X, 1)), "b": 0.2, "params": params,
        "cache": cache, "grads": grads, "A2": A2, "z": rng.standard_normal(M),
        "a": rng.standard_normal(7), "b_vec": rng.standard_normal(7),
    }


# function name -> (callable, argument names it takes from `good()`, how to call it)
CALLS = {
    "sigmoid": lambda g, be: fastnn.sigmoid(g["z"], backend=be),
    "dot": lambda g, be: fastnn.dot(g["a"], g["b_vec"], backend=be),
    "logreg.forward": lambda g, be: logreg.forward(g["w"], g["b"], g["X"], backend=be),
    "logreg.propagate": lambda g, be: logreg.propagate(g["w"], g["b"], g["X"], g["Y"], backend=be),
    "logreg.optimize": lambda g, be: logreg.optimize(g["w"], g["b"], g["X"], g["Y"], num_iterations=g.get("num_iterations", 3), learning_rate=g.get("learning_rate", 0.1), backend=be),
    "logreg.predict": lambda g, be: logreg.predict(g["w"], g["b"], g["X"], backend=be),
    "logreg.model": lambda g, be: logreg.model(g["X"], g["Y"], g["X"], g["Y"], num_iterations=g.get("num_iterations", 3), learning_rate=g.get("learning_rate", 0.1), backend=be),
    "mlp.forward_propagation": lambda g, be: mlp.forward_propagation(g["X"], g["params"], g.get("activation", "tanh"), backend=be),
    "mlp.compute_cost": lambda g, be: mlp.compute_cost(g["A2"], g["Y"], backend=be),
    "mlp.backward_propagation": lambda g, be: mlp.backward_propagation(g["params"], g["cache"], g["X"], g["Y"], g.get("activation", "tanh"), backend=be),
    "mlp.update_parameters": lambda g, be: mlp.update_parameters(g["params"], g["grads"], g.get("learning_rate", 1.2), backend=be),
    "mlp.train_step": lambda g, be: mlp.train_step(g["params"], g["X"], g["Y"], g.get("learning_rate", 1.2), g.get("activation", "tanh"), backend=be),
    "mlp.nn_model": lambda g, be: mlp.nn_model(g["X"], g["Y"], N_H, num_iterations=g.get("num_iterations", 3), learning_rate=g.get("learning_rate", 1.2), random_state=0, activation=g.get("activation", "tanh"), backend=be),
    "mlp.predict": lambda g, be: mlp.predict(g["params"], g["X"], g.get("activation", "tanh"), backend=be),
}
USES = {
    "X": [f for f in CALLS if f.startswith(("logreg.", "mlp.")) and f not in ("mlp.compute_cost", "mlp.update_parameters")],
    "Y": ["logreg.propagate", "logreg.optimize", "logreg.model", "mlp.compute_cost", "mlp.backward_propagation", "mlp.train_step", "mlp.nn_model"],
    "w": ["logreg.forward", "logreg.propagate", "logreg.optimize", "logreg.predict"],
    "b": ["logreg.forward", "logreg.propagate", "logreg.optimize", "logreg.predict"],
    "params": ["mlp.forward_propagation", "mlp.backward_propagation", "mlp.update_parameters", "mlp.train_step", "mlp.predict"],
    "learning_rate": ["logreg.optimize", "logreg.model", "mlp.update_parameters", "mlp.train_step", "mlp.nn_model"],
    "num_iterations": ["logreg.optimize", "logreg.model", "mlp.nn_model"],
    "activation": ["mlp.forward_propagation", "mlp.backward_propagation", "mlp.train_step", "mlp.nn_model", "mlp.predict"],
}


def with_nan(a, value=np.nan, index=(0, 1)):
    a = np.array(a, dtype=float)
    a[index[: a.ndim]] = value
    return a


# (argument, label, bad value maker, exception, regex the message must match)
BAD = [
    ("X", "None", lambda g: None, TypeError, r"X must be an array of numbers, got None"),
    ("X", "string", lambda g: "not data", TypeError, r"X must be an array of numbers"),
    ("X", "strings", lambda g: np.array([["a", "b"], ["c", "d"]]), TypeError, r"X must be an array of numbers"),
    ("X", "objects", lambda g: np.array([["one", 1.5]], dtype=object), TypeError, r"X must be an array of numbers"),
    ("X", "complex", lambda g: g["X"] + 1j, TypeError, r"X has complex dtype"),
    ("X", "scalar", lambda g: 3.0, ValueError, r"X must be 2-D of shape \(n_x, m\).*shape \(\)"),
    ("X", "rank-1", lambda g: g["X"][0], ValueError, r"X must be 2-D of shape \(n_x, m\).*reshape"),
    ("X", "rank-3", lambda g: g["X"][None], ValueError, r"X must be 2-D"),
    ("X", "m=0", lambda g: g["X"][:, :0], ValueError, r"X has shape \(3, 0\): it holds no examples \(m = 0\)"),
    ("X", "n_x=0", lambda g: g["X"][:0], ValueError, r"X has shape \(0, 5\): it holds no features"),
    ("X", "ragged", lambda g: [[1.0, 2.0], [3.0]], TypeError, r"X must be an array of numbers"),
    ("X", "NaN", lambda g: with_nan(g["X"]), ValueError, r"X contains NaN or infinity"),
    ("X", "inf", lambda g: with_nan(g["X"], np.inf), ValueError, r"X contains NaN or infinity"),
    ("X", "-inf", lambda g: with_nan(g["X"], -np.inf, (2, 4)), ValueError, r"X contains NaN or infinity"),
    ("X", "float128", lambda g: g["X"].astype(np.longdouble), TypeError, r"X has dtype float128, wider than float64"),
    ("Y", "rank-1", lambda g: g["Y"][0], ValueError, r"Y must be a row of shape \(n_y, m\).*Y\w*\.reshape\(1, -1\)"),
    ("Y", "wrong m", lambda g: g["Y"][:, :3], ValueError, r"Y has shape \(1, 3\) but .* has shape \(\w+, 5\)"),
    ("Y", "label 2", lambda g: with_nan(g["Y"], 2.0), ValueError, r"Y must hold binary labels 0 and 1 only; found 2.0"),
    ("Y", "label 0.5", lambda g: with_nan(g["Y"], 0.5), ValueError, r"Y must hold binary labels"),
    ("Y", "label -1", lambda g: with_nan(g["Y"], -1), ValueError, r"Y must hold binary labels"),
    ("Y", "label NaN", lambda g: with_nan(g["Y"]), ValueError, r"Y must hold binary labels|Y contains NaN"),
    ("Y", "strings", lambda g: np.array([["a"] * M]), TypeError, r"Y must be an array of numbers"),
    ("Y", "None", lambda g: None, TypeError, r"Y must be an array of numbers, got None"),
    ("w", "rank-1", lambda g: g["w"][:, 0], ValueError, r"w must be a column of shape \(n, 1\); pass w.reshape\(-1, 1\)"),
    ("w", "wrong n", lambda g: g["w"][:2], ValueError, r"w has shape \(2, 1\) but X has shape \(3, 5\): w must have shape \(3, 1\)"),
    ("w", "row", lambda g: g["w"].T, ValueError, r"w has shape \(1, 3\) but X has shape \(3, 5\)"),
    ("w", "NaN", lambda g: with_nan(g["w"], index=(1, 0)), ValueError, r"w contains NaN or infinity"),
    ("w", "None", lambda g: None, TypeError, r"w must be an array of numbers"),
    ("b", "None", lambda g: None, TypeError, r"b must be a real number, got NoneType"),
    ("b", "string", lambda g: "0.1", TypeError, r"b must be a real number"),
    ("b", "vector", lambda g: np.array([0.1, 0.2]), TypeError, r"b must be a real number"),
    ("b", "complex", lambda g: 1 + 2j, TypeError, r"b must be a real number"),
    ("b", "NaN", lambda g: float("nan"), ValueError, r"b contains NaN or infinity"),
    ("b", "inf", lambda g: float("inf"), ValueError, r"b contains NaN or infinity"),
    ("params", "missing key", lambda g: {k: v for k, v in g["params"].items() if k != "b2"}, ValueError, r"parameters must have the keys .*missing \['b2'\]"),
    ("params", "extra key", lambda g: {**g["params"], "W3": np.ones((1, 1))}, ValueError, r"parameters must have the keys .*unexpected \['W3'\]"),
    ("params", "not a dict", lambda g: list(g["params"].values()), TypeError, r"parameters must be a dict"),
    ("params", "W1 vs X", lambda g: {**g["params"], "W1": np.ones((N_H, N_X + 1))}, ValueError, r"W1 has shape \(4, 4\) but X has shape \(3, 5\): W1 must have shape \(k, 3\)|dW1 has shape"),
    ("params", "b1 rank-1", lambda g: {**g["params"], "b1": np.zeros(N_H)}, ValueError, r"b1 must be a column of shape \(n, 1\); pass b1.reshape\(-1, 1\)|b1 must be 2-D"),
    ("params", "b1 size", lambda g: {**g["params"], "b1": np.zeros((N_H + 1, 1))}, ValueError, r"b1 has shape \(5, 1\) but (W1 has shape \(4, 3\)|.*): b1 must have shape \(4, 1\)|must match"),
    ("params", "W2 vs W1", lambda g: {**g["params"], "W2": np.ones((1, N_H + 2))}, ValueError, r"W2 has shape \(1, 6\) but W1 has shape \(4, 3\)|must match"),
    ("params", "b2 size", lambda g: {**g["params"], "b2": np.zeros((2, 1))}, ValueError, r"b2 has shape \(2, 1\) but W2 has shape \(1, 4\)|must match"),
    ("params", "NaN in W1", lambda g: {**g["params"], "W1": with_nan(g["params"]["W1"])}, ValueError, r"W1 contains NaN or infinity"),
    ("params", "inf in b1", lambda g: {**g["params"], "b1": with_nan(g["params"]["b1"], np.inf, (2, 0))}, ValueError, r"b1 contains NaN or infinity"),
    ("params", "NaN in W2", lambda g: {**g["params"], "W2": with_nan(g["params"]["W2"], index=(0, 3))}, ValueError, r"W2 contains NaN or infinity"),
    ("params", "inf in b2", lambda g: {**g["params"], "b2": np.array([[np.inf]])}, ValueError, r"b2 contains NaN or infinity"),
    ("params", "string W2", lambda g: {**g["params"], "W2": "W2"}, TypeError, r"W2 must be an array of numbers"),
    ("learning_rate", "zero", lambda g: 0.0, ValueError, r"learning_rate must be a finite number > 0, got 0.0"),
    ("learning_rate", "negative", lambda g: -0.1, ValueError, r"learning_rate must be a finite number > 0"),
    ("learning_rate", "NaN", lambda g: float("nan"), ValueError, r"learning_rate must be a finite number > 0"),
    ("learning_rate", "inf", lambda g: float("inf"), ValueError, r"learning_rate must be a finite number > 0"),
    ("learning_rate", "string", lambda g: "0.1", TypeError, r"learning_rate must be a real number"),
    ("learning_rate", "None", lambda g: None, TypeError, r"learning_rate must be a real number"),
    ("num_iterations", "zero", lambda g: 0, ValueError, r"num_iterations must be >= 1, got 0"),
    ("num_iterations", "negative", lambda g: -3, ValueError, r"num_iterations must be >= 1"),
    ("num_iterations", "float", lambda g: 2.5, TypeError, r"num_iterations must be an integer"),
    ("num_iterations", "bool", lambda g: True, TypeError, r"num_iterations must be an integer"),
    ("num_iterations", "string", lambda g: "10", TypeError, r"num_iterations must be an integer"),
    ("activation", "unknown", lambda g: "softmax", ValueError, r"activation must be one of 'tanh', 'relu', 'sigmoid'; got 'softmax'"),
    ("activation", "None", lambda g: None, ValueError, r"activation must be one of"),
]

CASES = [
    pytest.param(func, arg, make, exc, regex, id=f"{func}-{arg}-{label}")
    for arg, label, make, exc, regex in BAD
    for func in USES[arg]
]


def snapshot(g):
    return copy.deepcopy({k: v for k, v in g.items()})


def assert_untouched(before, after):
    for key, value in before.items():
        if isinstance(value, dict):
            assert_untouched(value, after[key])
        elif isinstance(value, np.ndarray):
            np.testing.assert_array_equal(after[key], value, err_msg=f"{key} was modified")


@pytest.mark.parametrize(("func", "arg", "make", "exc", "regex"), CASES)
def test_bad_argument(backend, func, arg, make, exc, regex):
    g = good()
    g[arg] = make(g)
    if func == "logreg.model":  # model names its data X_train (and X_test)
        regex = regex.replace("X ", "X(_train)? ").replace("Y ", "Y(_train)? ")
    before = snapshot(g)
    with pytest.raises(exc, match=regex):
        CALLS[func](g, backend)
    assert_untouched(before, g)


@pytest.mark.parametrize(
    ("A2", "Y", "exc", "regex"),
    [
        (np.array([[0.2, 1.5]]), np.array([[0, 1]]), ValueError, r"A2 must hold probabilities in \[0, 1\]"),
        (np.array([[0.2, np.nan]]), np.array([[0, 1]]), ValueError, r"A2 contains NaN or infinity"),
        (np.array([0.2, 0.4]), np.array([[0, 1]]), ValueError, r"A2 must be 2-D"),
        (np.array([[0.2, 0.4]]), np.array([[0, 1, 1]]), ValueError, r"Y has shape \(1, 3\) but .* \(1, 2\)"),
        (np.array([[0.2, 0.4]]), np.array([[0, 3]]), ValueError, r"Y must hold binary labels"),
    ],
)
def test_compute_cost_bad_input(backend, A2, Y, exc, regex):
    with pytest.raises(exc, match=regex):
        mlp.compute_cost(A2, Y, backend=backend)


def test_train_step_rejects_parameters_it_cannot_update_in_place(backend):
    g = good()
    params = {**g["params"], "W1": g["params"]["W1"].astype(np.float32)}
    with pytest.raises(TypeError, match=r"parameters\['W1'\] must be a float64 array"):
        mlp.train_step(params, g["X"], g["Y"], backend=backend)
    frozen = {k: v.copy() for k, v in g["params"].items()}
    frozen["W2"].flags.writeable = False
    with pytest.raises(ValueError, match=r"parameters\['W2'\] is read-only"):
        mlp.train_step(frozen, g["X"], g["Y"], backend=backend)
    lists = {k: v.tolist() for k, v in g["params"].items()}
    with pytest.raises(TypeError, match=r"parameters\['W1'\] must be a float64 array"):
        mlp.train_step(lists, g["X"], g["Y"], backend=backend)


def test_dot_bad_input(backend):
    with pytest.raises(ValueError, match=r"a has shape \(3,\) but b has shape \(4,\)"):
        fastnn.dot(np.ones(3), np.ones(4), backend=backend)
    with pytest.raises(ValueError, match=r"a must be 1-D"):
        fastnn.dot(np.ones((3, 1)), np.ones(3), backend=backend)
    with pytest.raises(ValueError, match=r"b contains NaN or infinity"):
        fastnn.dot(np.ones(3), np.array([1.0, np.nan, 2.0]), backend=backend)
    with pytest.raises(ValueError, match=r"a contains NaN or infinity"):
        fastnn.dot(np.array([np.inf, 0.0]), np.zeros(2), backend=backend)


def test_sigmoid_bad_input(backend):
    with pytest.raises(TypeError, match=r"z must be an array of numbers"):
        fastnn.sigmoid("x", backend=backend)
    with pytest.raises(ValueError, match=r"z contains NaN or infinity"):
        fastnn.sigmoid(np.array([0.0, np.nan]), backend=backend)


# --- check_finite=False: no check, NaN in -> NaN out, never a crash ---------------------------


def test_check_finite_false_lets_nan_through(backend):
    g = good()
    X = with_nan(g["X"])
    grads, cost = logreg.propagate(g["w"], g["b"], X, g["Y"], backend=backend, check_finite=False)
    assert np.isnan(cost) and np.isnan(grads["dw"]).any()
    assert np.isnan(fastnn.sigmoid(np.array([np.nan]), backend=backend, check_finite=False)).all()
    np.testing.assert_array_equal(fastnn.sigmoid(np.array([-np.inf, np.inf]), backend=backend, check_finite=False), [0.0, 1.0])
    params = copy.deepcopy(g["params"])
    cost = mlp.train_step(params, X, g["Y"], backend=backend, check_finite=False)
    assert np.isnan(params["W1"]).any()  # documented: the update is applied, NaN and all


# --- odd but valid inputs give the plain answer ---------------------------------------------

LAYOUTS = {
    "fortran": lambda a: np.asfortranarray(a),
    "strided": lambda a: np.repeat(a, 2, axis=-1)[..., ::2],
    "read-only": lambda a: _read_only(a),
    "big-endian": lambda a: a.astype(a.dtype.newbyteorder(">")),
    "list": lambda a: a.tolist(),
    "unaligned": lambda a: _unaligned(a),
}


def _read_only(a):
    a = a.copy()
    a.flags.writeable = False
    return a


def _unaligned(a):
    buf = np.zeros(a.nbytes + 1, dtype=np.uint8)
    out = buf[1:].view(a.dtype).reshape(a.shape)
    out[...] = a
    return out


@pytest.mark.parametrize("layout", LAYOUTS)
def test_odd_layouts_give_the_plain_answer(backend, layout):
    g = good()
    odd = LAYOUTS[layout]
    plain_grads, plain_cost = logreg.propagate(g["w"], g["b"], g["X"], g["Y"], backend=backend)
    grads, cost = logreg.propagate(odd(g["w"]), g["b"], odd(g["X"]), odd(g["Y"]), backend=backend)
    np.testing.assert_array_equal(grads["dw"], plain_grads["dw"])
    assert cost == plain_cost
    plain_A2, _ = mlp.forward_propagation(g["X"], g["params"], backend=backend)
    A2, _ = mlp.forward_propagation(odd(g["X"]), {k: odd(v) for k, v in g["params"].items()}, backend=backend)
    np.testing.assert_array_equal(A2, plain_A2)


def test_int_and_bool_inputs_are_converted(backend):
    X = np.array([[1, 2, 3], [0, -1, 2]])
    Y = np.array([[True, False, True]])
    grads, cost = logreg.propagate(np.array([[1], [0]]), 0, X, Y, backend=backend)
    expected, expected_cost = logreg.propagate(np.array([[1.0], [0.0]]), 0.0, X.astype(float), Y.astype(float), backend=backend)
    assert grads["dw"].dtype == np.float64
    np.testing.assert_array_equal(grads["dw"], expected["dw"])
    assert cost == expected_cost


def test_float16_is_computed_in_float32(backend):
    X = np.array([[0.5, -1.0, 2.0]], dtype=np.float16)
    A = logreg.forward(np.array([[1.0]], dtype=np.float16), 0.0, X, backend=backend)
    assert A.dtype == np.float32


def test_zero_stride_broadcast_input(backend):
    X = np.broadcast_to(np.array([[0.5], [-1.0]]), (2, 6))  # zero stride along m, read-only
    A2, _ = mlp.forward_propagation(X, good()["params"] | {"W1": np.ones((N_H, 2))}, backend=backend)
    assert A2.shape == (1, 6) and np.all(A2 == A2[0, 0])


def test_train_step_updates_a_fortran_ordered_parameter_in_place(backend):
    g = good()
    params = copy.deepcopy(g["params"])
    params["W1"] = np.asfortranarray(params["W1"])
    W1 = params["W1"]
    plain = copy.deepcopy(g["params"])
    mlp.train_step(plain, g["X"], g["Y"], backend=backend)
    mlp.train_step(params, g["X"], g["Y"], backend=backend)
    assert params["W1"] is W1
    np.testing.assert_array_equal(W1, plain["W1"])


@pytest.mark.parametrize("dtypes", [("float32", "float64"), ("float64", "float32")])
def test_mixed_dtypes_compute_in_float64(backend, dtypes):
    """float64 data is never silently downcast: any float64 input makes the result float64."""
    g = good()
    X = g["X"].astype(dtypes[0])
    w = g["w"].astype(dtypes[1])
    grads, _ = logreg.propagate(w, g["b"], X, g["Y"], backend=backend)
    assert grads["dw"].dtype == np.float64
    grads32, _ = logreg.propagate(w.astype(np.float32), g["b"], X.astype(np.float32), g["Y"], backend=backend)
    assert grads32["dw"].dtype == np.float32
