"""The compiled extensions of the ``cython`` backend, built from ``kernels/`` by ``pip install``:
``logreg`` (logistic regression's fused pass), ``mlp`` (the 2-layer network's fused step and
its unfused pieces) and ``ops`` (``sigmoid``, ``dot``, the course's cost, the update, the
validation layer's compiled checks, the build record).  Their ``def`` functions are the
kernel protocol of :mod:`fastnn._backends`; :mod:`fastnn._backends.cython` re-exports them.
Importing this package imports none of them.
"""
