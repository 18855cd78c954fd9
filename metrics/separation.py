"""How well a feature space separates labelled classes: silhouette and k-NN accuracy.

All functions take (n, d) feature arrays and length-n label arrays. ``knn_scores`` fits the
neighbours on training features and scores held-out ones (optionally after standardising with
the training statistics); ``knn_scores(..., train_groups=, test_groups=)`` additionally scores
with neighbours restricted to *other* groups (recordings), which measures whether the features
carry the class rather than the identity of the recording a segment came from.
"""
from __future__ import annotations

import numpy as np

from neurocodec.signals.errors import RecordingError
from neurocodec.signals.validate import check_finite, check_nonempty


class SeparationError(RecordingError):
    """Invalid input to a class-separation metric."""


def _features(x, what: str) -> np.ndarray:
    x = check_finite(check_nonempty(x, what), what)
    if x.ndim != 2:
        raise SeparationError(f"{what}: expected (n_samples, n_features), got shape {x.shape}")
    return x.astype(np.float64, copy=False)


def _labels(y, n: int, what: str) -> np.ndarray:
    y = np.asarray(y)
    if y.shape != (n,):
        raise SeparationError(f"{what}: expected {n} labels, got shape {y.shape}")
    return y


def standardize(train, *others):
    """Z-score every array with the mean/std of ``train`` (constant features -> std 1)."""
    train = _features(train, "training features")
    mu, sd = train.mean(axis=0), train.std(axis=0)
    sd = np.where(sd > 1e-12, sd, 1.0)
    out = [(train - mu) / sd] + [(_features(o, "features") - mu) / sd for o in others]
    return out if others else out[0]


def silhouette(features, labels, metric: str = "euclidean") -> float:
    """Mean silhouette coefficient (-1..1; higher = tighter, better separated classes)."""
    from sklearn.metrics import silhouette_score

    x = _features(features, "features")
    y = _labels(labels, x.shape[0], "labels")
    if len(np.unique(y)) < 2 or len(np.unique(y)) >= x.shape[0]:
        raise SeparationError(f"silhouette needs 2 <= n_classes < n_samples, got "
                              f"{len(np.unique(y))} classes for {x.shape[0]} samples")
    return float(silhouette_score(x, y, metric=metric))


def knn_scores(train_x, train_y, test_x, test_y, k: int = 5, standardized: bool = True,
               train_groups=None, test_groups=None) -> dict:
    """k-NN classification of held-out features.

    Returns {"accuracy", "balanced_accuracy", "per_class_recall": {label: recall}} and, when
    groups are given, the same keys prefixed ``other_group_`` for neighbours drawn only from
    training samples of a different group than the test sample.
    """
    from sklearn.metrics import balanced_accuracy_score
    from sklearn.neighbors import KNeighborsClassifier

    train_x, test_x = _features(train_x, "training features"), _features(test_x, "test features")
    if train_x.shape[1] != test_x.shape[1]:
        raise SeparationError(f"feature dimensions differ: {train_x.shape[1]} vs {test_x.shape[1]}")
    train_y = _labels(train_y, train_x.shape[0], "training labels")
    test_y = _labels(test_y, test_x.shape[0], "test labels")
    k = int(k)
    if not 1 <= k <= train_x.shape[0]:
        raise SeparationError(f"k must be in [1, {train_x.shape[0]}], got {k}")
    if standardized:
        train_x, test_x = standardize(train_x, test_x)

    def summary(pred, truth, prefix=""):
        classes = sorted(np.unique(truth).tolist())
        return {
            f"{prefix}accuracy": float(np.mean(pred == truth)),
            f"{prefix}balanced_accuracy": float(balanced_accuracy_score(truth, pred)),
            f"{prefix}per_class_recall": {str(c): float(np.mean(pred[truth == c] == c))
                                          for c in classes},
        }

    clf = KNeighborsClassifier(n_neighbors=k, n_jobs=1).fit(train_x, train_y)
    out = summary(clf.predict(test_x), test_y)
    if train_groups is not None or test_groups is not None:
        if train_groups is None or test_groups is None:
            raise SeparationError("pass both train_groups and test_groups, or neither")
        train_g = _labels(train_groups, train_x.shape[0], "training groups")
        test_g = _labels(test_groups, test_x.shape[0], "test groups")
        pred = np.empty(test_y.shape, dtype=train_y.dtype)
        keep = np.ones(test_y.shape, bool)
        for g in np.unique(test_g):
            rows = test_g == g
            other = train_g != g
            if other.sum() < k:
                keep[rows] = False
                continue
            sub = KNeighborsClassifier(n_neighbors=k, n_jobs=1).fit(train_x[other], train_y[other])
            pred[rows] = sub.predict(test_x[rows])
        if keep.any():
            out.update(summary(pred[keep], test_y[keep], "other_group_"))
    return out
