"""The course's planar data set, regenerated exactly, and the synthetic benchmark shapes."""

from __future__ import annotations

import numpy as np

from fastnn import datasets


def course_load_planar_dataset():
    """The course's planar_utils.load_planar_dataset, verbatim but for its global seed."""
    np.random.seed(1)
    m = 400
    N = int(m / 2)
    D = 2
    X = np.zeros((m, D))
    Y = np.zeros((m, 1), dtype="uint8")
    a = 4
    for j in range(2):
        ix = range(N * j, N * (j + 1))
        t = np.linspace(j * 3.12, (j + 1) * 3.12, N) + np.random.randn(N) * 0.2
        r = a * np.sin(4 * t) + np.random.randn(N) * 0.2
        X[ix] = np.c_[r * np.sin(t), r * np.cos(t)]
        Y[ix] = j
    return X.T, Y.T


def test_load_planar_is_the_course_data_set():
    state = np.random.get_state()
    try:
        X_course, Y_course = course_load_planar_dataset()
    finally:
        np.random.set_state(state)
    X, Y = datasets.load_planar()
    assert X.shape == (2, 400) and Y.shape == (1, 400) and Y.dtype == np.uint8
    np.testing.assert_array_equal(X, X_course)
    np.testing.assert_array_equal(Y, Y_course)


def test_load_planar_sample_points():
    X, Y = datasets.load_planar()
    np.testing.assert_allclose(X[:, :3], [[1.2044422923, 0.158709904, 0.095247196], [3.5761141481, -1.4821709004, -1.2799553277]], rtol=1e-9)
    np.testing.assert_allclose(X[:, -3:], [[0.21364116, 0.32438689, 0.73078083], [1.73201591, -2.11632466, 3.06832921]], rtol=1e-7)
    assert not Y[0, :200].any() and Y[0, 200:].all()


def test_load_planar_leaves_the_global_rng_alone():
    np.random.seed(123)
    expected = np.random.rand()
    np.random.seed(123)
    datasets.load_planar()
    assert np.random.rand() == expected


def test_other_seeds_give_other_flowers():
    assert not np.array_equal(datasets.load_planar(2)[0], datasets.load_planar()[0])


def test_make_classification_cat_shape():
    X, Y = datasets.make_classification(12288, 209)
    assert X.shape == (12288, 209) and Y.shape == (1, 209)
    assert 0.2 < Y.mean() < 0.8 and set(np.unique(Y)) == {0.0, 1.0}
    X32, _ = datasets.make_classification(5, 7, dtype=np.float32)
    assert X32.dtype == np.float32
    np.testing.assert_array_equal(datasets.make_classification(4, 9, 2, random_state=3)[1], datasets.make_classification(4, 9, 2, random_state=3)[1])
