"""The 2-layer network (one hidden layer), as in week 3 of "Neural Networks and Deep Learning".

Course layout: ``X (n_x, m)`` with one column per example, ``Y (n_y, m)`` of 0/1 labels,
parameters ``W1 (n_h, n_x)``, ``b1 (n_h, 1)``, ``W2 (n_y, n_h)``, ``b2 (n_y, 1)``:

    Z1 = W1 X + b1      A1 = g(Z1)              g = tanh (default), relu or sigmoid
    Z2 = W2 A1 + b2     A2 = sigmoid(Z2)
    cost = (1/m) sum(softplus(Z2) - Y Z2)        (the log-loss, from the logits)
    dZ2 = A2 - Y        dW2 = (1/m) dZ2 A1.T     db2 = (1/m) sum(dZ2, axis=1)
    dZ1 = W2.T dZ2 * g'(Z1)
                        dW1 = (1/m) dZ1 X.T      db1 = (1/m) sum(dZ1, axis=1)

Every function takes ``backend=`` (see :func:`fastnn.set_backend`) and ``check_finite=``.
"""

from __future__ import annotations

import math
import numbers

import numpy as np

from fastnn import _validation as v
from fastnn._backends import ACTIVATIONS
from fastnn._dispatch import resolve
from fastnn._fit import check_fit, check_step, cost_printer, descend, interrupted
from fastnn.tuning import get_num_threads

__all__ = [
    "backward_propagation",
    "compute_cost",
    "forward_propagation",
    "initialize_parameters",
    "layer_sizes",
    "nn_model",
    "predict",
    "train_step",
    "update_parameters",
]

PARAMETERS = ("W1", "b1", "W2", "b2")
GRADIENTS = ("dW1", "db1", "dW2", "db2")
CACHE = ("Z1", "A1", "Z2", "A2")
_ACTIVATION_INDEX = {name: i for i, name in enumerate(ACTIVATIONS)}
#: ``nn_model(print_cost=True)`` prints the cost every this many iterations, as in the course.
PRINT_EVERY = 1000


def activation_index(activation: str) -> int:
    """The kernel index of a hidden activation name, or a ValueError naming the valid ones."""
    try:
        return ACTIVATIONS.index(activation)
    except ValueError:
        raise ValueError(
            f"activation must be one of {', '.join(map(repr, ACTIVATIONS))}; got {activation!r}"
        ) from None


def check_random_state(random_state) -> np.random.RandomState | np.random.Generator:
    """scikit-learn's convention without the global RNG: ``None`` draws fresh OS entropy,
    an int seeds ``np.random.RandomState(int)``, a RandomState/Generator is used as is."""
    if random_state is None:
        return np.random.RandomState()
    if isinstance(random_state, (np.random.RandomState, np.random.Generator)):
        return random_state
    if isinstance(random_state, numbers.Integral) and not isinstance(random_state, bool):
        return np.random.RandomState(int(random_state))
    raise TypeError(
        f"random_state must be None, an int, a RandomState or a Generator; got {random_state!r}"
    )


def layer_sizes(X, Y, n_h: int = 4) -> tuple[int, int, int]:
    """``(n_x, n_h, n_y)``: the input size from ``X``, the hidden size, the output size from ``Y``."""
    X = v.data_array(X)
    Y = v.labels(Y, X.shape[1], None, x_shape=X.shape)
    return X.shape[0], v.count(n_h, "n_h"), Y.shape[0]


def initialize_parameters(n_x: int, n_h: int, n_y: int, random_state=None, dtype=np.float64) -> dict:
    """``W1 = randn(n_h, n_x) * 0.01``, then ``W2 = randn(n_y, n_h) * 0.01``, biases zero.

    ``random_state=2`` reproduces the course's initial weights; NumPy's global RNG is
    never touched.
    """
    n_x, n_h, n_y = v.count(n_x, "n_x"), v.count(n_h, "n_h"), v.count(n_y, "n_y")
    dtype = np.dtype(dtype)
    if dtype not in (v.F32, v.F64):
        raise TypeError(f"dtype must be float32 or float64, got {dtype}")
    n_params = n_h * n_x + n_h + n_y * n_h + n_y
    if n_params > _MAX_PARAMETERS:
        raise ValueError(
            f"n_x={n_x}, n_h={n_h}, n_y={n_y} make {n_params:.3g} parameters "
            f"({n_params * 8 / 2**30:.3g} GiB in float64): too many for this machine"
        )
    rng = check_random_state(random_state)
    W1 = rng.standard_normal((n_h, n_x)) * 0.01
    W2 = rng.standard_normal((n_y, n_h)) * 0.01
    return {
        "W1": W1.astype(dtype),
        "b1": np.zeros((n_h, 1), dtype=dtype),
        "W2": W2.astype(dtype),
        "b2": np.zeros((n_y, 1), dtype=dtype),
    }


#: More parameters than this would not fit any machine's memory (2^40 float64: 8 TiB).
_MAX_PARAMETERS = 1 << 40

_UNLABELLED = object()  # forward_propagation and predict take no labels


class _Net:
    """Validated ``X`` (and ``Y``) and parameters in one computation dtype."""

    __slots__ = ("W1", "W2", "X", "Y", "b1", "b2", "dtype", "given")

    def __init__(self, parameters, X, Y=_UNLABELLED, *, extra: tuple[np.ndarray, ...] = ()) -> None:
        params = v.as_dict(parameters, "parameters", PARAMETERS)
        X = v.data_array(X)
        W1 = v.matrix(params["W1"], "W1", (None, X.shape[0]), "X", X.shape)
        b1 = v.column(params["b1"], "b1", W1.shape[0], "W1", W1.shape)
        W2 = v.matrix(params["W2"], "W2", (None, W1.shape[0]), "W1", W1.shape)
        b2 = v.column(params["b2"], "b2", W2.shape[0], "W2", W2.shape)
        self.given = params
        self.dtype = dtype = v.compute_dtype(X, W1, b1, W2, b2, *extra)
        self.X = v.c_array(X, dtype)
        self.W1, self.b1, self.W2, self.b2 = (v.c_array(a, dtype) for a in (W1, b1, W2, b2))
        self.Y = None
        if Y is not _UNLABELLED:
            Y = v.labels(Y, X.shape[1], W2.shape[0], x_shape=X.shape)
            self.Y = v.label_array(Y, dtype)

    @property
    def params(self) -> tuple[np.ndarray, ...]:
        return self.W1, self.b1, self.W2, self.b2

    def named(self) -> dict:
        named = dict(zip(PARAMETERS, self.params))
        named["X"] = self.X
        if self.Y is not None:
            named["Y"] = self.Y
        return named

    def check_finite(self) -> None:
        for name, arr in self.named().items():
            v.check_finite(arr, name)


def forward_propagation(X, parameters, activation: str = "tanh", *, backend=None, check_finite=True):
    """``(A2, cache {"Z1", "A1", "Z2", "A2"})`` for the whole batch ``X``."""
    kernels = resolve(backend)
    act = activation_index(activation)
    net = _Net(parameters, X)
    if check_finite:
        net.check_finite()
    Z1, A1, Z2, A2 = kernels.mlp_forward(net.X, *net.params, act, get_num_threads())
    return A2, {"Z1": Z1, "A1": A1, "Z2": Z2, "A2": A2}


def compute_cost(A2, Y, *, backend=None, check_finite=True) -> float:
    """The course's cross-entropy ``-(1/m) sum(Y log A2 + (1 - Y) log(1 - A2))``.

    ``A2`` is clipped to ``[eps, 1 - eps]`` of its dtype, which changes nothing for
    probabilities that are not saturated; ``A2`` must hold probabilities in [0, 1].
    """
    kernels = resolve(backend)
    A2 = v.data_array(A2, "A2", "n_y")
    Y = v.labels(Y, A2.shape[1], A2.shape[0], x_shape=A2.shape)
    if check_finite:
        v.check_finite(A2, "A2")
    if not ((A2 >= 0) & (A2 <= 1)).all():
        raise ValueError(f"A2 must hold probabilities in [0, 1]; got values in [{A2.min()}, {A2.max()}]")
    v.check_labels(Y)
    dtype = v.compute_dtype(A2)
    return float(kernels.mlp_cost(v.c_array(A2, dtype), v.c_array(Y, dtype)))


def backward_propagation(
    parameters, cache, X, Y, activation: str = "tanh", *, backend=None, check_finite=True
) -> dict:
    """Gradients ``{"dW1", "db1", "dW2", "db2"}`` from the forward ``cache`` (``A1``, ``A2``)."""
    kernels = resolve(backend)
    act = activation_index(activation)
    cache = v.as_dict(cache, "cache", ("A1", "A2"), extra_ok=True)
    A1 = v.as_array(cache["A1"], "A1", 2)
    A2 = v.as_array(cache["A2"], "A2", 2)
    net = _Net(parameters, X, Y, extra=(A1, A2))
    m = net.X.shape[1]
    n_h, n_y = net.W1.shape[0], net.W2.shape[0]
    A1 = v.matrix(A1, "A1", (n_h, m), "W1 and X", (net.W1.shape, net.X.shape))
    A2 = v.matrix(A2, "A2", (n_y, m), "W2 and X", (net.W2.shape, net.X.shape))
    A1, A2 = v.c_array(A1, net.dtype), v.c_array(A2, net.dtype)
    v.check_labels(net.Y)
    if check_finite:
        net.check_finite()
        v.check_finite(A1, "A1")
        v.check_finite(A2, "A2")
    grads = kernels.mlp_backward(net.X, net.Y, net.W2, A1, A2, act, get_num_threads())
    return dict(zip(GRADIENTS, grads))


def update_parameters(
    parameters, grads, learning_rate: float = 1.2, *, backend=None, check_finite=True
) -> dict:
    """A new dict ``P - learning_rate * dP`` for each parameter; the inputs are not mutated."""
    kernels = resolve(backend)
    params = v.as_dict(parameters, "parameters", PARAMETERS)
    grads = v.as_dict(grads, "grads", GRADIENTS)
    learning_rate = v.positive(learning_rate, "learning_rate")
    arrays = {}
    for p_name, g_name in zip(PARAMETERS, GRADIENTS):
        P = v.as_array(params[p_name], p_name, 2)
        dP = v.as_array(grads[g_name], g_name, 2)
        if P.shape != dP.shape:
            raise ValueError(
                f"{g_name} has shape {dP.shape} but {p_name} has shape {P.shape}: they must match"
            )
        arrays[p_name], arrays[g_name] = P, dP
    dtype = v.compute_dtype(*arrays.values())
    arrays = {name: v.c_array(a, dtype) for name, a in arrays.items()}
    if check_finite:
        for name, arr in arrays.items():
            v.check_finite(arr, name)
    return {
        p: kernels.sgd_update(arrays[p], arrays[g], learning_rate) for p, g in zip(PARAMETERS, GRADIENTS)
    }


def train_step(
    parameters, X, Y, learning_rate: float = 1.2, activation: str = "tanh", *, backend=None, check_finite=True
) -> float:
    """One fused training step: forward, cost, backward and update, in one kernel call.

    Updates ``parameters`` in place and returns the cost computed before the update.  The
    parameters must be writable arrays of the computation dtype (see
    :mod:`fastnn._validation`); a rejected call leaves them untouched.
    """
    kernels = resolve(backend)
    act = _ACTIVATION_INDEX.get(activation) if type(activation) is str else None
    fast = getattr(kernels, "fast_mlp_arrays", v.fast_mlp_arrays)(parameters, X, Y)
    plain_rate = type(learning_rate) is float and 0.0 < learning_rate < math.inf
    if fast is not None and act is not None and plain_rate:
        costs = np.empty(1)
        status, _ = kernels.mlp_descend(*fast, learning_rate, act, costs, check_finite, get_num_threads())
        if status:
            check_step(status, dict(zip(("X", "Y", *PARAMETERS), fast)), check_finite, "train_step")
        return float(costs[0])

    act = activation_index(activation)
    learning_rate = v.positive(learning_rate, "learning_rate")
    net = _Net(parameters, X, Y)
    targets = _in_place_targets(net, X, Y)
    costs = np.empty(1, v.F64)
    status, _ = kernels.mlp_descend(
        net.X, net.Y, *net.params, learning_rate, act, costs, check_finite, get_num_threads()
    )
    check_step(status, net.named(), check_finite, "train_step")
    for target, updated in zip(targets, net.params):
        if target is not updated:
            target[...] = updated
    return float(costs[0])


def _in_place_targets(net: _Net, X, Y) -> list[np.ndarray]:
    """The caller's parameter arrays, checked to be updatable in place.  The kernel works
    on ``net``'s arrays: the very same ones, or converted copies written back afterwards."""
    targets = []
    for name in PARAMETERS:
        given = net.given[name]
        # a float of the computation dtype in either byte order (written back converted)
        if not isinstance(given, np.ndarray) or given.dtype.newbyteorder("=") != net.dtype:
            got = given.dtype if isinstance(given, np.ndarray) else type(given).__name__
            raise TypeError(
                f"train_step updates parameters in place: parameters[{name!r}] must be a "
                f"{net.dtype} array (the computation dtype), got {got}"
            )
        if not given.flags.writeable:
            raise ValueError(f"train_step updates parameters in place: parameters[{name!r}] is read-only")
        targets.append(given)
    others = {"X": X, "Y": Y}
    v.distinct({**dict(zip(PARAMETERS, targets)), **{k: a for k, a in others.items()
                                                    if isinstance(a, np.ndarray)}}, PARAMETERS)
    return targets


def nn_model(
    X,
    Y,
    n_h: int,
    num_iterations: int = 10000,
    learning_rate: float = 1.2,
    print_cost: bool = False,
    random_state=None,
    activation: str = "tanh",
    *,
    backend=None,
    check_finite=True,
) -> dict:
    """Train the 2-layer network by gradient descent; returns the learned parameters.

    Parameters come from :func:`initialize_parameters` (``random_state=2`` gives the
    course's start); the iteration loop runs inside the backend's ``mlp_descend`` kernel,
    in chunks of 1000 when ``print_cost`` prints "Cost after iteration i" as in the course.
    A diverging run stops at its last finite step with a :class:`fastnn.DivergenceWarning`.
    """
    n_x, n_h, n_y = layer_sizes(X, Y, n_h)
    X = v.data_array(X)
    parameters = initialize_parameters(n_x, n_h, n_y, random_state, v.compute_dtype(X))
    chunk, report = (PRINT_EVERY, cost_printer(PRINT_EVERY)) if print_cost else (None, None)
    parameters, result = gradient_descent(
        parameters, X, Y, num_iterations, learning_rate, activation, backend=backend,
        check_finite=check_finite, chunk=chunk, on_chunk=report, what="nn_model", keep_every=0,
    )
    interrupted(result)
    return parameters


def gradient_descent(
    parameters, X, Y, num_iterations, learning_rate, activation="tanh", *, backend=None,
    check_finite=True, chunk=None, on_chunk=None, what="nn_model", keep_every=1,
):
    """The engine of :func:`nn_model` and :class:`fastnn.TwoLayerClassifier`.

    Trains a copy of ``parameters``; returns ``(parameters, descent)`` with every
    ``keep_every``-th cost in ``descent.costs``.  The loop runs in the backend's
    ``mlp_descend`` kernel, in chunks of at most ``chunk`` iterations reported to
    ``on_chunk(first_iteration, costs)``.
    """
    kernels = resolve(backend)
    act = activation_index(activation)
    num_iterations = v.count(num_iterations, "num_iterations")
    learning_rate = v.positive(learning_rate, "learning_rate")
    net = _Net(parameters, X, Y)
    # train a copy: the caller's arrays are left as they are
    net.W1, net.b1, net.W2, net.b2 = (
        P.copy() if P is net.given[k] else P for k, P in zip(PARAMETERS, net.params)
    )
    n_threads = get_num_threads()

    def run(costs):
        return kernels.mlp_descend(
            net.X, net.Y, *net.params, learning_rate, act, costs, check_finite, n_threads
        )

    work = net.W1.shape[0] * net.X.shape[1] * (2 * net.X.shape[0] + 2 * net.W2.shape[0] + 16)
    result = descend(run, num_iterations, work, chunk, on_chunk, keep_every)
    check_fit(result, net.named(), learning_rate, what)
    return dict(zip(PARAMETERS, net.params)), result


def predict(parameters, X, activation: str = "tanh", *, backend=None, check_finite=True) -> np.ndarray:
    """Predicted labels ``A2 > 0.5`` as a bool array ``(n_y, m)``."""
    A2, _ = forward_propagation(X, parameters, activation, backend=backend, check_finite=check_finite)
    return A2 > 0.5
