"""The kernel protocol every fastnn backend implements.

A backend is a module with a ``NAME``, a ``VERSION``, a ``details()`` function and the
kernels below.  The public API (:mod:`fastnn.logreg`, :mod:`fastnn.mlp`, :mod:`fastnn._ops`)
validates every argument before calling a kernel, so a kernel may assume:

* every array is a C-contiguous, aligned, native-byte-order ``ndarray``;
* every floating array of one call has the same dtype, ``float32`` or ``float64``
  (labels ``Y`` included: they hold only 0.0 and 1.0, checked by the fused kernels);
* shapes are consistent: ``X (n_x, m)``, ``Y (n_y, m)``, ``w (n_x, 1)``, ``b`` a float
  (``(1,)`` where a kernel updates it),
  ``W1 (n_h, n_x)``, ``b1 (n_h, 1)``, ``W2 (n_y, n_h)``, ``b2 (n_y, 1)``, with
  ``m, n_x, n_h, n_y >= 1``; arrays a kernel writes to are writable and never alias inputs;
* ``activation`` is an index into :data:`ACTIVATIONS`; ``n_threads >= 1``.

Numerics: cost and gradients come from the logits (loss = softplus(z) - y*z, gradient
sigmoid(z) - y, branch-stable), float32 accumulates reductions (cost, dot) in float64.

The fused kernels (``logreg_propagate``, ``logreg_descend``, ``mlp_descend``,
``mlp_gradients``) also report a
*status*: :data:`BAD_LABEL` when a label is not 0 or 1, :data:`NONFINITE` when a
parameter-sized quantity (a parameter read, a gradient, a cost, an updated parameter) is
not finite.  Because every element of ``X`` is multiplied into the first layer's gradient,
a NaN or inf in ``X`` always shows up there: checking parameter-sized results is enough
to catch non-finite data, at no cost per element.  The public API turns a status into a
precise error (:func:`fastnn._validation.diagnose`).

Kernels
-------
``sigmoid(z) -> ndarray``
    Element-wise logistic function, any shape, a new array.
``dot(a, b, n_threads) -> float``
    Inner product of two 1-D arrays of equal length.
``logreg_forward(w, b, X) -> A``
    ``A = sigmoid(w.T X + b)``, shape ``(1, m)``.
``logreg_propagate(w, b, X, Y, n_threads) -> (status, dw, db, cost)``
    Gradients ``dw = X dZ.T / m`` (``(n_x, 1)``), ``db = sum(dZ) / m`` and the mean cost,
    where ``dZ = A - Y``: logistic regression's fused *gradients* kernel (forward, cost,
    backward, no update).  ``db`` and ``cost`` are Python floats.
``logreg_descend(w, b, X, Y, learning_rate, costs, dw, db, check, n_threads) -> (status, n_done)``
    ``len(costs)`` steps of gradient descent, updating ``w`` and ``b`` in place;
    ``costs[i]`` is the cost at step ``i`` (before its update); ``dw``, ``db`` receive the
    gradients of the last step done.  With ``check``, a step whose status is not OK is not
    applied and the loop stops: ``n_done`` counts the steps applied.
``mlp_forward(X, W1, b1, W2, b2, activation, n_threads) -> (Z1, A1, Z2, A2)``
    ``Z1 = W1 X + b1``, ``A1 = g(Z1)``, ``Z2 = W2 A1 + b2``, ``A2 = sigmoid(Z2)``.
``mlp_cost(A2, Y) -> float``
    Cross-entropy from probabilities clipped to ``[eps, 1 - eps]`` of the dtype, averaged
    over the ``m`` examples and summed over the ``n_y`` outputs (the course's formula).
``mlp_backward(X, Y, W2, A1, A2, activation, n_threads) -> (dW1, db1, dW2, db2)``
    ``dZ2 = A2 - Y``, ``dW2 = dZ2 A1.T / m``, ``db2 = sum(dZ2, axis=1) / m``,
    ``dZ1 = W2.T dZ2 * g'(Z1)`` (``g'`` written in terms of ``A1``),
    ``dW1 = dZ1 X.T / m``, ``db1 = sum(dZ1, axis=1) / m``.
``sgd_update(P, dP, learning_rate) -> ndarray``
    A new array ``P - learning_rate * dP``.
``mlp_descend(X, Y, W1, b1, W2, b2, learning_rate, activation, costs, check, n_threads) -> (status, n_done)``
    ``len(costs)`` fused training steps (forward, cost from logits, backward, update) on
    the parameters in place; ``costs`` and ``check`` as for ``logreg_descend``.
``mlp_gradients(X, Y, W1, b1, W2, b2, activation, n_threads) -> (status, loss, (dW1, db1, dW2, db2))``
    The fused *gradients* kernel: forward, cost and backward of one pass, no update, the
    loss and the gradients *summed* over the ``m`` examples (not divided by ``m``): the
    partial sums of one chunk of a data set, to be added across chunks.

Backends may also provide ``fast_mlp_arrays(parameters, X, Y)`` and
``fast_logreg_arrays(w, X, Y)``, compiled versions of :mod:`fastnn._validation`'s O(1)
shortcuts for the common case (same contract); the Python ones serve otherwise.
"""

from __future__ import annotations

#: Every kernel a backend must provide (checked by :func:`fastnn.register_backend`).
KERNELS = (
    "sigmoid",
    "dot",
    "logreg_forward",
    "logreg_propagate",
    "logreg_descend",
    "mlp_forward",
    "mlp_cost",
    "mlp_backward",
    "sgd_update",
    "mlp_descend",
    "mlp_gradients",
)

#: Hidden-layer activations, by the index kernels receive.
ACTIVATIONS = ("tanh", "relu", "sigmoid")
TANH, RELU, SIGMOID = range(3)

#: Kernel statuses.
OK, NONFINITE, BAD_LABEL = 0, 1, 2
