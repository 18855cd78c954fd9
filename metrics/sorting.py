"""Spike sorting that runs here (PCA features + k-means) and its accuracy against ground truth.

``sort_spikes``: features = the first ``n_features`` principal components of the flattened
windows (fitted on the spikes being sorted), clustered by k-means (k-means++, ``n_init``
restarts, fixed seed) into ``n_clusters`` clusters (the report uses the number of ground-truth
units). The same sorter runs on original and on reconstructed waveforms, with the same
spike times, so any accuracy difference comes from the compression.

Accuracy (``sorting_scores``), clusters matched one-to-one to units by the Hungarian
algorithm on the confusion matrix:

* ``accuracy``: fraction of detected spikes that have a ground-truth unit (labels >= 0) and
  whose cluster is matched to that unit (classification accuracy of the detected spikes);
* ``si_accuracy``: SpikeInterface's per-unit accuracy tp / (tp + fn + fp) averaged over
  units, where fn also counts the unit's spikes the detector missed (``n_true_per_unit``) and
  fp counts false detections and other units' spikes in the matched cluster.
"""
from __future__ import annotations

from neurocodec.errors import NeurocodecError

import numpy as np


class SortingError(NeurocodecError):
    """Bad input to the sorter or the accuracy computation."""


def spike_features(waveforms, n_features: int = 6) -> np.ndarray:
    x = np.asarray(waveforms, np.float64)
    if x.ndim < 2 or x.shape[0] < 2:
        raise SortingError(f"need at least 2 spike windows, got shape {x.shape}")
    if not np.all(np.isfinite(x)):
        raise SortingError("spike windows contain NaN or Inf")
    flat = x.reshape(len(x), -1)
    flat = flat - flat.mean(axis=0)
    _, _, vt = np.linalg.svd(flat[:: max(1, len(flat) // 20000)], full_matrices=False)
    return flat @ vt[: min(n_features, vt.shape[0])].T


def sort_spikes(waveforms, n_clusters: int, n_features: int = 6, n_init: int = 8, seed: int = 0) -> np.ndarray:
    """Cluster labels (n,) in [0, n_clusters) of spike windows (n, ...)."""
    from sklearn.cluster import KMeans

    if n_clusters < 1:
        raise SortingError(f"n_clusters must be >= 1, got {n_clusters}")
    feats = spike_features(waveforms, n_features)
    if len(feats) < n_clusters:
        raise SortingError(f"{len(feats)} spikes cannot form {n_clusters} clusters")
    km = KMeans(n_clusters=n_clusters, n_init=n_init, random_state=seed)
    return km.fit_predict(feats).astype(np.int64)


def sorting_scores(clusters, labels, n_true_per_unit=None) -> dict:
    """Accuracy of cluster labels against ground-truth unit labels (-1 = no unit)."""
    from scipy.optimize import linear_sum_assignment

    clusters = np.asarray(clusters, np.int64)
    labels = np.asarray(labels, np.int64)
    if clusters.shape != labels.shape or clusters.ndim != 1:
        raise SortingError(f"clusters {clusters.shape} and labels {labels.shape} must be equal 1-D shapes")
    if clusters.size == 0 or clusters.min() < 0:
        raise SortingError("cluster labels must be non-empty and >= 0")
    units = np.unique(labels[labels >= 0])
    if units.size == 0:
        raise SortingError("no spike has a ground-truth unit")
    n_cl = int(clusters.max()) + 1
    n_u = int(units.max()) + 1
    conf = np.zeros((n_cl, n_u), np.int64)
    has = labels >= 0
    np.add.at(conf, (clusters[has], labels[has]), 1)
    rows, cols = linear_sum_assignment(-conf)
    unit_of_cluster = np.full(n_cl, -1, np.int64)
    unit_of_cluster[rows] = cols
    pred = unit_of_cluster[clusters]
    accuracy = float(np.mean(pred[has] == labels[has]))
    if n_true_per_unit is None:
        n_true = np.bincount(labels[has], minlength=n_u)
    else:
        n_true = np.asarray(n_true_per_unit, np.int64)
    per_unit = []
    for u in range(n_u):
        if n_true[u] == 0:
            continue
        tp = int(np.count_nonzero((pred == u) & (labels == u)))
        fp = int(np.count_nonzero((pred == u) & (labels != u)))
        fn = int(n_true[u]) - tp
        per_unit.append(tp / (tp + fn + fp))
    return {"accuracy": accuracy, "si_accuracy": float(np.mean(per_unit)), "per_unit_accuracy": per_unit}


__all__ = ["SortingError", "sort_spikes", "sorting_scores", "spike_features"]
