"""Spike sorting that runs here and its accuracy against ground truth.

``hdbscan_sort`` (the report's sorter, the way many sorters cluster): features = the first
``per_channel`` principal components of each channel's waveforms (fitted on the spikes being
sorted), density clustering by HDBSCAN (no number of units given: it finds the clusters
itself; leaf cluster selection, min samples 5, min cluster size ``MIN_CLUSTER_FRACTION`` = 5 %
of the spikes sorted and at least 25), then template matching: every spike (also HDBSCAN's
noise points) is assigned to the cluster whose mean waveform (template) is nearest in squared
error, as template-matching sorters do. It can fail: merged or split units and misassigned
spikes all lower the accuracy, and a codec that blurs the differences between units changes the
clusters it finds.

Why the minimum cluster size scales with the spike count: a codec's reconstructions are
denoised and take discrete values (every spike of a unit falls near one of a few codeword sums
or quantized coefficient vectors), so leaf selection with a small fixed minimum (25) cuts one
unit into several tight "quantization cells" and the accuracy drops for a reason no sorter that
merges over-split clusters would show. A cluster must hold 5 % of the detections instead: a unit
firing that rarely is not sorted (on original and reconstruction alike). ``min_cluster_size=25``
gives the finer, split-prone setting (the report lists it beside).

``sort_spikes`` (older, weaker): features = the first ``n_features`` principal components of the flattened
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


def channel_pca_features(waveforms, per_channel: int = 2) -> np.ndarray:
    """(n, window, channels) -> (n, channels * per_channel): per-channel PCA projections."""
    x = np.asarray(waveforms, np.float64)
    if x.ndim != 3 or x.shape[0] < 2:
        raise SortingError(f"need spike windows (n >= 2, window, channels), got shape {x.shape}")
    if not np.all(np.isfinite(x)):
        raise SortingError("spike windows contain NaN or Inf")
    feats = []
    for ch in range(x.shape[2]):
        a = x[:, :, ch] - x[:, :, ch].mean(axis=0)
        _, _, vt = np.linalg.svd(a[:: max(1, len(a) // 20000)], full_matrices=False)
        feats.append(a @ vt[: min(per_channel, vt.shape[0])].T)
    return np.concatenate(feats, axis=1)


MIN_CLUSTER_FRACTION = 0.05  # hdbscan_sort's minimum cluster size, as a fraction of the spikes sorted
MIN_CLUSTER_SIZE = 25  # ... and never below this many spikes


def min_cluster_size_for(n_spikes: int) -> int:
    """hdbscan_sort's default minimum cluster size for ``n_spikes`` spikes."""
    return max(MIN_CLUSTER_SIZE, int(round(MIN_CLUSTER_FRACTION * int(n_spikes))))


def hdbscan_sort(waveforms, per_channel: int = 2, min_cluster_size: int | None = None, min_samples: int = 5,
                 template_matching: bool = True, selection: str = "leaf") -> np.ndarray:
    """Cluster labels (n,) >= 0 of spike windows (n, window, channels) (see module docstring);
    ``min_cluster_size`` None: ``min_cluster_size_for(n)``."""
    import hdbscan

    x = np.asarray(waveforms, np.float64)
    if min_cluster_size is None:
        min_cluster_size = min_cluster_size_for(len(x))
    if int(min_cluster_size) < 2:
        raise SortingError(f"min_cluster_size must be >= 2, got {min_cluster_size}")
    feats = channel_pca_features(x, per_channel)
    lab = hdbscan.HDBSCAN(min_cluster_size=int(min_cluster_size), min_samples=int(min_samples),
                          cluster_selection_method=selection).fit(feats).labels_
    n_cl = int(lab.max()) + 1
    if n_cl < 1:  # HDBSCAN found no structure: one cluster
        return np.zeros(len(x), np.int64)
    if template_matching:
        templates = np.stack([x[lab == k].mean(axis=0) for k in range(n_cl)]).reshape(n_cl, -1)
        flat = x.reshape(len(x), -1)
        d = (flat * flat).sum(1)[:, None] - 2 * flat @ templates.T + (templates * templates).sum(1)[None]
        return d.argmin(axis=1).astype(np.int64)
    cent = np.stack([feats[lab == k].mean(axis=0) for k in range(n_cl)])
    out = lab.astype(np.int64).copy()
    noise = out < 0
    out[noise] = ((feats[noise, None] - cent[None]) ** 2).sum(-1).argmin(axis=1)
    return out


def agreement(clusters_a, clusters_b) -> float:
    """Fraction of spikes on which two sortings of the same spikes agree, after matching their
    clusters one-to-one (Hungarian) - the check without ground truth (real recordings)."""
    a = np.asarray(clusters_a, np.int64)
    b = np.asarray(clusters_b, np.int64)
    if a.shape != b.shape or a.ndim != 1 or a.size == 0 or a.min() < 0 or b.min() < 0:
        raise SortingError(f"two non-empty 1-D cluster label arrays >= 0 of one shape needed, got {a.shape}, {b.shape}")
    from scipy.optimize import linear_sum_assignment

    conf = np.zeros((a.max() + 1, b.max() + 1), np.int64)
    np.add.at(conf, (a, b), 1)
    r, c = linear_sum_assignment(-conf)
    return float(conf[r, c].sum() / a.size)


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


__all__ = ["MIN_CLUSTER_FRACTION", "MIN_CLUSTER_SIZE", "SortingError", "agreement", "channel_pca_features", "hdbscan_sort",
           "min_cluster_size_for", "sort_spikes", "sorting_scores",
           "spike_features"]
