"""The course's published outputs ("Neural Networks and Deep Learning", weeks 2 and 3),
reproduced by every backend.

Sources: the assignments "Logistic Regression with a Neural Network mindset" (v6a notebook
and the later ``public_tests.py``) and "Planar data classification with one hidden layer"
(v6c notebook with ``testCases_v2.py``, and the later ``public_tests.py``).  Inputs are
copied from the published test cases; where the course drew them from the global RNG we
draw the same numbers from ``RandomState(seed)`` (the same stream).
"""

from __future__ import annotations

import numpy as np
import pytest

import fastnn
from fastnn import logreg, mlp

# --- week 2: logistic regression ----------------------------------------------------------


def test_sigmoid(backend):
    np.testing.assert_allclose(fastnn.sigmoid(np.array([0, 2]), backend=backend), [0.5, 0.88079708])
    np.testing.assert_allclose(fastnn.sigmoid(np.array([0.5, 0, 2.0]), backend=backend), [0.62245933, 0.5, 0.88079708])
    assert np.isclose(fastnn.sigmoid(1, backend=backend), 0.7310585)


@pytest.mark.parametrize("dim", [2, 3, 4])
def test_initialize_with_zeros(dim):
    w, b = logreg.initialize_with_zeros(dim)
    assert type(b) is float and b == 0.0
    assert type(w) is np.ndarray and w.shape == (dim, 1) and not w.any()


OLD_W, OLD_B = np.array([[1.0], [2.0]]), 2.0
OLD_X, OLD_Y = np.array([[1.0, 2.0, -1.0], [3.0, 4.0, -3.2]]), np.array([[1, 0, 1]])


def test_propagate_v6a(backend):
    grads, cost = logreg.propagate(OLD_W, OLD_B, OLD_X, OLD_Y, backend=backend)
    np.testing.assert_allclose(grads["dw"], [[0.99845601], [2.39507239]], rtol=1e-7)
    np.testing.assert_allclose(grads["db"], 0.00145557813678, rtol=1e-9)
    np.testing.assert_allclose(cost, 5.801545319394553, rtol=1e-12)
    assert type(grads["dw"]) is np.ndarray and grads["dw"].shape == (2, 1)
    assert type(grads["db"]) is np.float64


def test_propagate_notebook(backend):
    w, b = np.array([[1.0], [2]]), 1.5
    X, Y = np.array([[1.0, -2.0, -1.0], [3.0, 0.5, -3.2]]), np.array([[1, 1, 0]])
    grads, cost = logreg.propagate(w, b, X, Y, backend=backend)
    np.testing.assert_allclose(grads["dw"], [[0.25071532], [-0.06604096]], rtol=1e-7)
    np.testing.assert_allclose(grads["db"], -0.1250040450043965, rtol=1e-12)
    np.testing.assert_allclose(cost, 0.15900537707692405, rtol=1e-12)


def test_propagate_public_tests(backend):
    w, b = np.array([[1.0], [2.0], [-1]]), 2.5
    X = np.array([[1.0, 2.0, -1.0, 0], [3.0, 4.0, -3.2, 1], [3.0, 4.0, -3.2, -3.5]])
    Y = np.array([[1, 1, 0, 0]])
    grads, cost = logreg.propagate(w, b, X, Y, backend=backend)
    np.testing.assert_allclose(grads["dw"], [[-0.03909333], [0.12501464], [-0.99960809]], rtol=1e-6)
    np.testing.assert_allclose(grads["db"], 0.288106326429569, rtol=1e-12)
    np.testing.assert_allclose(cost, 2.0424567983978403, rtol=1e-12)


def test_optimize_v6a(backend):
    params, grads, costs = logreg.optimize(OLD_W, OLD_B, OLD_X, OLD_Y, num_iterations=100, learning_rate=0.009, backend=backend)
    np.testing.assert_allclose(params["w"], [[0.19033591], [0.12259159]], rtol=1e-7)
    np.testing.assert_allclose(params["b"], 1.92535983008, rtol=1e-10)
    np.testing.assert_allclose(grads["dw"], [[0.67752042], [1.41625495]], rtol=1e-7)
    np.testing.assert_allclose(grads["db"], 0.219194504541, rtol=1e-10)
    np.testing.assert_allclose(costs, [5.801545319394553], rtol=1e-12)


def test_optimize_notebook(backend):
    w, b = np.array([[1.0], [2]]), 1.5
    X, Y = np.array([[1.0, -2.0, -1.0], [3.0, 0.5, -3.2]]), np.array([[1, 1, 0]])
    params, grads, costs = logreg.optimize(w, b, X, Y, num_iterations=100, learning_rate=0.009, backend=backend)
    np.testing.assert_allclose(params["w"], [[0.80956046], [2.0508202]], rtol=1e-7)
    np.testing.assert_allclose(params["b"], 1.5948713189708588, rtol=1e-11)
    np.testing.assert_allclose(grads["dw"], [[0.17860505], [-0.04840656]], rtol=1e-6)
    np.testing.assert_allclose(grads["db"], -0.08888460336847771, rtol=1e-10)
    np.testing.assert_allclose(costs, [0.15900538], rtol=1e-7)
    np.testing.assert_array_equal(w, [[1.0], [2.0]])  # the caller's w is not modified


def test_optimize_public_tests(backend):
    params, grads, costs = logreg.optimize(OLD_W, OLD_B, OLD_X, OLD_Y, num_iterations=101, learning_rate=0.1, backend=backend)
    assert type(costs) is list and len(costs) == 2
    np.testing.assert_allclose(costs, [5.80154532, 0.31057104], rtol=1e-7)
    np.testing.assert_allclose(params["w"], [[-0.70916784], [-0.42390859]], rtol=1e-7)
    np.testing.assert_allclose(params["b"], 2.26891346, rtol=1e-8)
    np.testing.assert_allclose(grads["dw"], [[0.06188603], [-0.01407361]], rtol=1e-6)
    np.testing.assert_allclose(grads["db"], -0.04709353, rtol=1e-6)


def test_predict_v6a(backend):
    w, b = np.array([[0.1124579], [0.23106775]]), -0.3
    X = np.array([[1.0, -1.1, -3.2], [1.2, 2.0, 0.1]])
    np.testing.assert_array_equal(logreg.predict(w, b, X, backend=backend), [[1.0, 1.0, 0.0]])


def test_predict_public_tests(backend):
    w, b = np.array([[0.3], [0.5], [-0.2]]), -0.33333
    X = np.array([[1.0, -0.3, 1.5], [2, 0, 1], [0, -1.5, 2]])
    pred = logreg.predict(w, b, X, backend=backend)
    assert type(pred) is np.ndarray and pred.shape == (1, 3)
    np.testing.assert_array_equal(pred, [[1.0, 0.0, 1.0]])


def test_model_public_tests(backend):
    rng = np.random.RandomState(0)
    Y, X = np.array([[1, 0, 0, 1, 0, 0, 1]]), rng.randn(4, 7)
    x_test, y_test = rng.randn(4, 3), np.array([[0, 1, 0]])
    d = logreg.model(X, Y, x_test, y_test, num_iterations=50, learning_rate=0.01, backend=backend)
    assert type(d["costs"]) is list and len(d["costs"]) == 1
    np.testing.assert_allclose(d["costs"], [0.69314718], rtol=1e-8)
    np.testing.assert_allclose(d["w"], [[0.08639757], [-0.08231268], [-0.11798927], [0.12866053]], rtol=1e-6)
    np.testing.assert_allclose(d["b"], -0.03983236094816321, rtol=1e-10)
    np.testing.assert_array_equal(d["Y_prediction_test"], [[1.0, 1.0, 0.0]])
    np.testing.assert_array_equal(d["Y_prediction_train"], [[1.0, 1.0, 0.0, 1.0, 0.0, 0.0, 1.0]])
    assert d["learning_rate"] == 0.01 and d["num_iterations"] == 50


def test_model_prints_costs_and_accuracy(backend, capsys):
    rng = np.random.RandomState(0)
    X, Y = rng.randn(3, 20), (rng.rand(1, 20) > 0.5)
    logreg.model(X, Y, X, Y, num_iterations=201, learning_rate=0.1, print_cost=True, backend=backend)
    out = capsys.readouterr().out.splitlines()
    assert [line.split(":")[0] for line in out[:3]] == [f"Cost after iteration {i}" for i in (0, 100, 200)]
    assert out[3].startswith("train accuracy: ") and out[4].startswith("test accuracy: ")


# --- week 3: the 2-layer network ------------------------------------------------------------

W1_COURSE = np.array([[-0.00416758, -0.00056267], [-0.02136196, 0.01640271], [-0.01793436, -0.00841747], [0.00502881, -0.01245288]])
W2_COURSE = np.array([[-0.01057952, -0.00909008, 0.00551454, 0.02292208]])


def _course_params(b1=None, b2=None):
    return {
        "W1": W1_COURSE.copy(),
        "b1": np.zeros((4, 1)) if b1 is None else b1,
        "W2": W2_COURSE.copy(),
        "b2": np.zeros((1, 1)) if b2 is None else b2,
    }


UPDATED_W1 = np.array([[-0.00615039, 0.0169021], [-0.02311792, 0.03137121], [-0.0169217, -0.01752545], [0.00935436, -0.05018221]])
UPDATED_PARAMS = {
    "W1": UPDATED_W1,
    "W2": np.array([[-0.0104319, -0.04019007, 0.01607211, 0.04440255]]),
    "b1": np.array([[-8.97523455e-07], [8.15562092e-06], [6.04810633e-07], [-2.54560700e-06]]),
    "b2": np.array([[9.14954378e-05]]),
}


def test_layer_sizes():
    rng = np.random.RandomState(1)
    X, Y = rng.randn(5, 3), rng.randn(2, 3)
    assert mlp.layer_sizes(X, Y) == (5, 4, 2)
    assert mlp.layer_sizes(rng.randn(7, 5), rng.randn(5, 5)) == (7, 4, 5)


def test_initialize_parameters_seed_2():
    p = mlp.initialize_parameters(2, 4, 1, random_state=2)
    np.testing.assert_allclose(p["W1"], W1_COURSE, atol=5e-9)
    np.testing.assert_allclose(p["W2"], W2_COURSE, atol=5e-9)
    assert p["b1"].shape == (4, 1) and not p["b1"].any()
    assert p["b2"].shape == (1, 1) and not p["b2"].any()


def test_initialize_parameters_public_tests():
    p = mlp.initialize_parameters(3, 5, 2, random_state=2)
    np.testing.assert_allclose(p["W1"][0], [-0.00416758, -0.00056267, -0.02136196], atol=5e-9)
    np.testing.assert_allclose(p["W2"], [[-5.96159700e-03, -1.91304965e-04, 1.17500122e-02, -7.47870949e-03, 9.02525097e-05],
                                         [-8.78107893e-03, -1.56434170e-03, 2.56570452e-03, -9.88779049e-03, -3.38821966e-03]], atol=5e-11)


def test_initialize_parameters_leaves_global_rng_alone():
    state = np.random.get_state()
    mlp.initialize_parameters(2, 4, 1, random_state=2)
    mlp.initialize_parameters(2, 4, 1)
    after = np.random.get_state()
    assert state[0] == after[0] and np.array_equal(state[1], after[1]) and state[2:] == after[2:]


def _forward_case():
    rng = np.random.RandomState(1)
    X = rng.randn(2, 3)
    b1 = rng.randn(4, 1)
    return X, _course_params(b1=b1, b2=np.array([[-1.3]]))


def test_forward_propagation(backend):
    X, params = _forward_case()
    A2, cache = mlp.forward_propagation(X, params, backend=backend)
    means = [np.mean(cache[k]) for k in ("Z1", "A1", "Z2", "A2")]
    np.testing.assert_allclose(means, [0.262818640198, 0.091999045227, -1.30766601287, 0.212877681719], rtol=1e-10)
    np.testing.assert_allclose(A2, [[0.21292656, 0.21274673, 0.21295976]], rtol=1e-7)
    np.testing.assert_allclose(cache["Z1"][0], [1.7386459, 1.74687437, 1.74830797], rtol=1e-7)
    np.testing.assert_allclose(cache["A1"][1], [-0.67151964, -0.62547205, -0.65709025], rtol=1e-7)
    np.testing.assert_allclose(cache["Z2"], [[-1.30737426, -1.30844761, -1.30717618]], rtol=1e-8)


def test_compute_cost(backend):
    Y = np.random.RandomState(1).randn(1, 3) > 0
    cost = mlp.compute_cost(np.array([[0.5002307, 0.49985831, 0.50023963]]), Y, backend=backend)
    assert type(cost) is float
    np.testing.assert_allclose(cost, 0.6930587610394646, rtol=1e-12)
    Y = np.random.RandomState(1).randn(1, 5) > 0
    A2 = np.array([[0.5002307, 0.49985831, 0.50023963, 0.25, 0.7]])
    np.testing.assert_allclose(mlp.compute_cost(A2, Y, backend=backend), 0.5447066599017815, rtol=1e-12)


def test_backward_propagation_v6c(backend):
    rng = np.random.RandomState(1)
    X, Y = rng.randn(2, 3), rng.randn(1, 3) > 0
    cache = {
        "A1": np.array([[-0.00616578, 0.0020626, 0.00349619], [-0.05225116, 0.02725659, -0.02646251],
                        [-0.02009721, 0.0036869, 0.02883756], [0.02152675, -0.01385234, 0.02599885]]),
        "A2": np.array([[0.5002307, 0.49985831, 0.50023963]]),
        "Z1": np.array([[-0.00616586, 0.0020626, 0.0034962], [-0.05229879, 0.02726335, -0.02646869],
                        [-0.02009991, 0.00368692, 0.02884556], [0.02153007, -0.01385322, 0.02600471]]),
        "Z2": np.array([[0.00092281, -0.00056678, 0.00095853]]),
    }
    grads = mlp.backward_propagation(_course_params(), cache, X, Y, backend=backend)
    np.testing.assert_allclose(grads["dW1"], [[0.00301023, -0.00747267], [0.00257968, -0.00641288], [-0.00156892, 0.003893], [-0.00652037, 0.01618243]], rtol=2e-6)
    np.testing.assert_allclose(grads["db1"], [[0.00176201], [0.00150995], [-0.00091736], [-0.00381422]], rtol=5e-6)
    np.testing.assert_allclose(grads["dW2"], [[0.00078841, 0.01765429, -0.00084166, -0.01022527]], rtol=1e-5)
    np.testing.assert_allclose(grads["db2"], [[-0.16655712]], rtol=1e-7)


def test_backward_propagation_public_tests(backend):
    rng = np.random.RandomState(1)
    X, Y = rng.randn(3, 7), rng.randn(1, 7) > 0
    params = {"W1": rng.randn(9, 3), "W2": rng.randn(1, 9), "b1": np.zeros((9, 1)), "b2": np.zeros((1, 1))}
    cache = {"A1": rng.randn(9, 7), "A2": rng.randn(1, 7), "Z1": rng.randn(7, 9), "Z2": rng.randn(1, 7)}
    grads = mlp.backward_propagation(params, cache, X, Y, backend=backend)
    np.testing.assert_allclose(grads["dW1"][0], [-0.24468458, -0.24371232, 0.15959609], rtol=1e-7)
    np.testing.assert_allclose(grads["db1"][:3, 0], [0.1463639, -0.33647992, -0.51738006], rtol=1e-7)
    np.testing.assert_allclose(grads["dW2"][0, :3], [-0.35768529, 0.22046323, -0.29551566], rtol=1e-7)
    np.testing.assert_allclose(grads["db2"], [[-0.78032466]], rtol=1e-8)


def test_update_parameters(backend):
    grads = {
        "dW1": np.array([[0.00023322, -0.00205423], [0.00082222, -0.00700776], [-0.00031831, 0.0028636], [-0.00092857, 0.00809933]]),
        "dW2": np.array([[-1.75740039e-05, 3.70231337e-03, -1.25683095e-03, -2.55715317e-03]]),
        "db1": np.array([[1.05570087e-07], [-3.81814487e-06], [-1.90155145e-07], [5.46467802e-07]]),
        "db2": np.array([[-1.08923140e-05]]),
    }
    before = {k: v.copy() for k, v in UPDATED_PARAMS.items()}
    new = mlp.update_parameters(UPDATED_PARAMS, grads, backend=backend)
    np.testing.assert_allclose(new["W1"], [[-0.00643025, 0.01936718], [-0.02410458, 0.03978052], [-0.01653973, -0.02096177], [0.01046864, -0.05990141]], rtol=1e-6)
    np.testing.assert_allclose(new["b1"], [[-1.02420756e-06], [1.27373948e-05], [8.32996807e-07], [-3.20136836e-06]], rtol=1e-8)
    np.testing.assert_allclose(new["W2"], [[-0.01041081, -0.04463285, 0.01758031, 0.04747113]], rtol=1e-6)
    np.testing.assert_allclose(new["b2"], [[0.00010457]], rtol=1e-4)
    for k in before:  # the inputs are not mutated
        np.testing.assert_array_equal(UPDATED_PARAMS[k], before[k])


@pytest.mark.parametrize(
    ("seed", "W1", "b1", "W2", "b2"),
    [
        (2, [[-0.65848169, 1.21866811], [-0.76204273, 1.39377573], [0.5792005, -1.10397703], [0.76773391, -1.41477129]],
         [[0.287592], [0.3511264], [-0.2431246], [-0.35772805]], [[-2.45566237, -3.27042274, 2.00784958, 3.36773273]], [[0.20459656]]),
        (3, [[0.56305445, -1.03925886], [0.7345426, -1.36286875], [-0.72533346, 1.33753027], [0.74757629, -1.38274074]],
         [[-0.22240654], [-0.34662093], [0.33663708], [-0.35296113]], [[1.82196893, 3.09657075, -2.98193564, 3.19946508]], [[0.21344644]]),
    ],
    ids=["v6c-seed2", "public-tests-seed3"],
)
def test_nn_model(backend, seed, W1, b1, W2, b2):
    rng = np.random.RandomState(1)
    X, Y = rng.randn(2, 3), rng.randn(1, 3) > 0
    p = mlp.nn_model(X, Y, 4, num_iterations=10000, random_state=seed, backend=backend)
    for name, expected in (("W1", W1), ("b1", b1), ("W2", W2), ("b2", b2)):
        np.testing.assert_allclose(p[name], expected, rtol=2e-6, err_msg=name)


def test_nn_model_prints_course_costs(backend, capsys):
    rng = np.random.RandomState(1)
    X, Y = rng.randn(2, 3), rng.randn(1, 3) > 0
    mlp.nn_model(X, Y, 4, num_iterations=10000, print_cost=True, random_state=2, backend=backend)
    printed = capsys.readouterr().out.splitlines()
    assert printed == [
        f"Cost after iteration {i}: {c}"
        for i, c in zip(range(0, 10000, 1000), ["0.692739", "0.000218", "0.000107", "0.000071", "0.000053",
                                               "0.000042", "0.000035", "0.000030", "0.000026", "0.000023"])
    ]


def test_predict(backend):
    X = np.random.RandomState(1).randn(2, 3)
    pred = mlp.predict(UPDATED_PARAMS, X, backend=backend)
    assert pred.dtype == bool
    np.testing.assert_array_equal(pred, [[True, False, True]])
    assert np.isclose(pred.mean(), 0.666666666667)


#: "Cost after iteration i" printed by the v6c notebook for the planar data; from 8000 on the
#: trajectory depends on the last bits of every sum (the course's own code prints 0.219454 to
#: 0.219471 at 8000 depending on the run), so those are compared to 1e-3.
PLANAR_COSTS = [0.693048, 0.288083, 0.254385, 0.233864, 0.226792, 0.222644, 0.219731, 0.217504, 0.219454, 0.218607]


def test_planar_run_reproduces_the_course(fast_backend, capsys):
    X, Y = fastnn.datasets.load_planar()
    params = mlp.nn_model(X, Y, n_h=4, num_iterations=10000, learning_rate=1.2, print_cost=True,
                          random_state=2, backend=fast_backend)
    costs = [float(line.rsplit(":", 1)[1]) for line in capsys.readouterr().out.splitlines()]
    np.testing.assert_allclose(costs[:8], PLANAR_COSTS[:8], atol=1.5e-6)
    np.testing.assert_allclose(costs[8:], PLANAR_COSTS[8:], atol=1e-3)
    accuracy = float((mlp.predict(params, X, backend=fast_backend) == Y).mean())
    assert accuracy >= 0.90  # the course: "Accuracy: 90%"
