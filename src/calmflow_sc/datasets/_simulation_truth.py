"""The ground truth of the simulated experiment: its constants, effects and sampling."""

from __future__ import annotations

from typing import Any

import numpy as np

from ..data import is_combination, join_components, label_parts

_CELL_TYPE_NAMES: tuple[str, ...] = (
    "T cell",
    "B cell",
    "monocyte",
    "NK cell",
    "dendritic cell",
    "plasma cell",
    "neutrophil",
    "megakaryocyte",
)
_PERTURBATIONS: tuple[str, ...] = ("IFNB", "TNF", "IL4")
_PAIRS: tuple[tuple[str, str], ...] = (("IFNB", "TNF"), ("IFNB", "IL4"))
_CONTROL = "control"
DONORS: tuple[str, ...] = ("donor_1", "donor_2")
_LATENT_NAMES: tuple[str, ...] = ("activation", "cycling", "response_strength")

# Overall strength of each single perturbation (IFN-beta responds strongest, as in PBMC data).
_PERTURBATION_STRENGTH: dict[str, float] = {"IFNB": 1.0, "TNF": 0.75, "IL4": 0.6}

# Fixed parameters of the generative model (documented in ``uns["simulation"]["params"]``).
_BASELINE_SD = 1.5  # spread of the shared baseline log-rates across genes
_CELL_TYPE_SD = 0.2  # small cell-type deviation on every gene
_MARKER_FRACTION = 0.04  # marker genes per cell type
_MARKER_LOGFOLD = 1.8  # mean log-fold up-regulation of marker genes
_ACTIVATION_FRACTION = 0.05  # genes loaded on the continuous activation state
_ACTIVATION_SD = 0.5  # loading scale of the activation programme
_CYCLING_FRACTION = 0.02  # genes of the cycling programme
_CYCLING_LOGFOLD = 1.5  # log-fold up-regulation of cycling genes in cycling cells
_CYCLING_PROBABILITY = 0.15  # share of cycling cells
_RESPONSIVE_FRACTION = 0.06  # shared responsive genes per perturbation
_RESPONSE_LOGFOLD = 1.5  # mean absolute shared log-fold effect
_UP_PROBABILITY = 0.7  # share of up-regulated responsive genes
_CELL_TYPE_SCALE_RANGE = (0.4, 1.5)  # cell-type scaling of the shared effect
_GENE_MODULATION_SD = 0.25  # gene-level relative modulation of the shared effect per cell type
_SPECIFIC_FRACTION = 0.01  # cell-type-specific responsive genes per perturbation
_SPECIFIC_SD = 1.0  # scale of cell-type-specific effects
_INTERACTION_FRACTION = 0.01  # genes carrying a non-additive term per pair
_INTERACTION_SD = 0.5  # scale of the non-additive term
_MAX_LOGFOLD = 4.0  # effects are clipped to [-4, 4]
_RESPONSE_SHAPE = 6.0  # gamma shape of the per-cell response strength (mean 1)
_DONOR_SD = 0.1  # per-gene donor shift
_DONOR_LIBRARY_FACTOR = (1.0, 0.85)  # library-size factor per donor
_LIBRARY_MEDIAN_RANGE = (2000.0, 5000.0)  # median UMI per cell, drawn per cell type
_LIBRARY_SD = 0.35  # log-normal spread of the library size within a group
_DISPERSION_MEDIAN = 3.0  # median negative-binomial inverse dispersion (theta)
_DISPERSION_SD = 0.5  # log-normal spread of theta across genes
TARGET_SUM = 1e4


def cell_type_names(n_cell_types: int) -> list[str]:
    """Return readable cell-type names, falling back to generic names beyond the list."""
    names = list(_CELL_TYPE_NAMES[:n_cell_types])
    names += [f"cell type {i + 1}" for i in range(len(names), n_cell_types)]
    return names


def _n_genes_of(fraction: float, n_genes: int) -> int:
    """Return the number of genes of a programme covering ``fraction`` of the genes (at least 1)."""
    return max(1, round(fraction * n_genes))


def _programme(rng: np.random.Generator, n_genes: int, fraction: float) -> np.ndarray:
    """Pick the (sorted) gene indices of a sparse programme."""
    return np.sort(rng.choice(n_genes, size=_n_genes_of(fraction, n_genes), replace=False))


def _signed_effects(rng: np.random.Generator, size: int, mean_abs: float) -> np.ndarray:
    """Draw log-fold effects: gamma-distributed magnitudes, mostly positive signs."""
    magnitude = rng.gamma(shape=4.0, scale=mean_abs / 4.0, size=size)
    sign = np.where(rng.random(size) < _UP_PROBABILITY, 1.0, -1.0)
    return sign * magnitude


def draw_ground_truth(rng: np.random.Generator, n_genes: int, n_cell_types: int) -> dict[str, Any]:
    """Draw every gene- and cell-type-level parameter of the generative model."""
    n_pert = len(_PERTURBATIONS)
    baseline = rng.normal(0.0, _BASELINE_SD, size=n_genes)

    cell_type_log_mean = baseline + rng.normal(0.0, _CELL_TYPE_SD, size=(n_cell_types, n_genes))
    markers = [_programme(rng, n_genes, _MARKER_FRACTION) for _ in range(n_cell_types)]
    for k, genes in enumerate(markers):
        cell_type_log_mean[k, genes] += rng.gamma(4.0, _MARKER_LOGFOLD / 4.0, size=genes.size)

    activation = np.zeros(n_genes)
    genes = _programme(rng, n_genes, _ACTIVATION_FRACTION)
    activation[genes] = rng.normal(0.0, _ACTIVATION_SD, size=genes.size)
    cycling = np.zeros(n_genes)
    cycling[_programme(rng, n_genes, _CYCLING_FRACTION)] = _CYCLING_LOGFOLD

    shared = np.zeros((n_pert, n_genes))
    responsive: dict[str, np.ndarray] = {}
    for p, name in enumerate(_PERTURBATIONS):
        genes = _programme(rng, n_genes, _RESPONSIVE_FRACTION)
        shared[p, genes] = _PERTURBATION_STRENGTH[name] * _signed_effects(
            rng, genes.size, _RESPONSE_LOGFOLD
        )
        responsive[name] = genes

    scale = rng.uniform(*_CELL_TYPE_SCALE_RANGE, size=(n_cell_types, n_pert))
    modulation = 1.0 + rng.normal(0.0, _GENE_MODULATION_SD, size=(n_cell_types, n_pert, n_genes))
    single = scale[:, :, None] * shared[None, :, :] * modulation
    specific: dict[str, np.ndarray] = {}
    for k in range(n_cell_types):
        for p, name in enumerate(_PERTURBATIONS):
            # Cell-type-specific responders are drawn among the cell type's own markers.
            size = min(_n_genes_of(_SPECIFIC_FRACTION, n_genes), markers[k].size)
            genes = np.sort(rng.choice(markers[k], size=size, replace=False))
            single[k, p, genes] += _PERTURBATION_STRENGTH[name] * rng.normal(
                0.0, _SPECIFIC_SD, size=size
            )
            specific[f"{k}:{name}"] = genes

    interaction: dict[str, np.ndarray] = {}
    interaction_genes: dict[str, np.ndarray] = {}
    for first, second in _PAIRS:
        pool = np.union1d(responsive[first], responsive[second])
        size = min(_n_genes_of(_INTERACTION_FRACTION, n_genes), pool.size)
        genes = np.sort(rng.choice(pool, size=size, replace=False))
        term = np.zeros(n_genes)
        term[genes] = rng.normal(0.0, _INTERACTION_SD, size=size)
        interaction[join_components((first, second))] = term
        interaction_genes[join_components((first, second))] = genes

    conditions = [_CONTROL, *_PERTURBATIONS, *(join_components(pair) for pair in _PAIRS)]
    effect = np.zeros((n_cell_types, len(conditions), n_genes))
    index = {name: p for p, name in enumerate(_PERTURBATIONS)}
    for c, condition in enumerate(conditions[1:], start=1):
        if is_combination(condition):
            first, second = label_parts(condition)
            pair_scale = 0.5 * (scale[:, index[first]] + scale[:, index[second]])
            effect[:, c] = (
                single[:, index[first]]
                + single[:, index[second]]
                + pair_scale[:, None] * interaction[condition][None, :]
            )
        else:
            effect[:, c] = single[:, index[condition]]
    np.clip(effect, -_MAX_LOGFOLD, _MAX_LOGFOLD, out=effect)

    # Expected change of log relative expression at the average cell state: the effect minus the
    # change of the softmax normaliser (up-regulated genes take a larger share of the library).
    log_proportion = cell_type_log_mean - cell_type_log_mean.max(axis=1, keepdims=True)
    log_proportion -= np.log(np.exp(log_proportion).sum(axis=1, keepdims=True))
    log_normaliser = np.log(np.exp(log_proportion[:, None, :] + effect).sum(axis=-1))
    log_normaliser[:, 0] = 0.0  # control: exactly no change
    log_fold_change = effect - log_normaliser[:, :, None]

    theta = _DISPERSION_MEDIAN * np.exp(rng.normal(0.0, _DISPERSION_SD, size=n_genes))
    library_median = rng.uniform(*_LIBRARY_MEDIAN_RANGE, size=n_cell_types)
    donor_shift = rng.normal(0.0, _DONOR_SD, size=(len(DONORS), n_genes))
    donor_shift -= donor_shift.mean(axis=0, keepdims=True)  # balanced donors: no net shift

    return {
        "conditions": conditions,
        "cell_type_log_mean": cell_type_log_mean,
        "markers": markers,
        "activation_loading": activation,
        "cycling_programme": cycling,
        "shared_effect": shared,
        "responsive_genes": responsive,
        "cell_type_scale": scale,
        "specific_genes": specific,
        "interaction": interaction,
        "interaction_genes": interaction_genes,
        "effect": effect,
        "log_fold_change": log_fold_change,
        "theta": theta,
        "library_median": library_median,
        "donor_shift": donor_shift,
    }


def sample_group(
    rng: np.random.Generator,
    truth: dict[str, Any],
    cell_type: int,
    condition: int,
    n_cells: int,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Sample the counts of one (cell type, condition) group.

    Returns
    -------
    counts
        Integer counts, shape ``(n_cells, n_genes)``.
    donor
        Donor index of every cell.
    latent
        Per-cell latent variables (activation, cycling, response strength).
    """
    donor = np.repeat(np.arange(len(DONORS)), [n_cells // 2, n_cells - n_cells // 2])
    activation = rng.normal(0.0, 1.0, size=n_cells)
    cycling = (rng.random(n_cells) < _CYCLING_PROBABILITY).astype(np.float64)
    response = rng.gamma(_RESPONSE_SHAPE, 1.0 / _RESPONSE_SHAPE, size=n_cells)

    log_rate = (
        truth["cell_type_log_mean"][cell_type][None, :]
        + truth["donor_shift"][donor]
        + activation[:, None] * truth["activation_loading"][None, :]
        + cycling[:, None] * truth["cycling_programme"][None, :]
        + response[:, None] * truth["effect"][cell_type, condition][None, :]
    )
    log_rate -= log_rate.max(axis=1, keepdims=True)
    proportion = np.exp(log_rate)
    proportion /= proportion.sum(axis=1, keepdims=True)

    library = truth["library_median"][cell_type] * np.exp(rng.normal(0.0, _LIBRARY_SD, n_cells))
    library *= np.asarray(_DONOR_LIBRARY_FACTOR)[donor]
    mean = library[:, None] * proportion

    theta = truth["theta"][None, :]
    counts = rng.poisson(rng.gamma(theta, mean / theta))  # negative binomial as Poisson-gamma
    latent = np.column_stack([activation, cycling, response])
    return counts, donor, latent


def ground_truth_record(
    truth: dict[str, Any],
    cell_types: list[str],
    seed: int,
    n_cells_per_group: int,
    n_genes: int,
    n_cell_types: int,
) -> dict[str, Any]:
    """Collect the ground truth into an h5ad-storable dict of arrays, lists and scalars."""
    params = {
        "n_cells_per_group": n_cells_per_group,
        "n_genes": n_genes,
        "n_cell_types": n_cell_types,
        "target_sum": TARGET_SUM,
        "baseline_sd": _BASELINE_SD,
        "cell_type_sd": _CELL_TYPE_SD,
        "marker_fraction": _MARKER_FRACTION,
        "marker_logfold": _MARKER_LOGFOLD,
        "activation_fraction": _ACTIVATION_FRACTION,
        "activation_sd": _ACTIVATION_SD,
        "cycling_fraction": _CYCLING_FRACTION,
        "cycling_logfold": _CYCLING_LOGFOLD,
        "cycling_probability": _CYCLING_PROBABILITY,
        "responsive_fraction": _RESPONSIVE_FRACTION,
        "response_logfold": _RESPONSE_LOGFOLD,
        "up_probability": _UP_PROBABILITY,
        "perturbation_strength": dict(_PERTURBATION_STRENGTH),
        "cell_type_scale_range": np.asarray(_CELL_TYPE_SCALE_RANGE),
        "gene_modulation_sd": _GENE_MODULATION_SD,
        "specific_fraction": _SPECIFIC_FRACTION,
        "specific_sd": _SPECIFIC_SD,
        "interaction_fraction": _INTERACTION_FRACTION,
        "interaction_sd": _INTERACTION_SD,
        "max_logfold": _MAX_LOGFOLD,
        "response_shape": _RESPONSE_SHAPE,
        "donor_sd": _DONOR_SD,
        "donor_library_factor": np.asarray(_DONOR_LIBRARY_FACTOR),
        "library_median_range": np.asarray(_LIBRARY_MEDIAN_RANGE),
        "library_sd": _LIBRARY_SD,
        "dispersion_median": _DISPERSION_MEDIAN,
        "dispersion_sd": _DISPERSION_SD,
    }
    specific = {}
    for key, genes in truth["specific_genes"].items():
        k, name = key.split(":")
        specific[f"{cell_types[int(k)]}|{name}"] = genes
    return {
        "seed": int(seed),
        "params": params,
        "cell_types": list(cell_types),
        "conditions": list(truth["conditions"]),
        "perturbations": list(_PERTURBATIONS),
        "pairs": [join_components(pair) for pair in _PAIRS],
        "donors": list(DONORS),
        "latent_names": list(_LATENT_NAMES),
        "effect": truth["effect"],
        "log_fold_change": truth["log_fold_change"],
        "effect_axes": ["cell_type", "condition", "gene"],
        "baseline_log_mean": truth["cell_type_log_mean"],
        "donor_shift": truth["donor_shift"],
        "shared_effect": truth["shared_effect"],
        "cell_type_scale": truth["cell_type_scale"],
        "activation_loading": truth["activation_loading"],
        "cycling_programme": truth["cycling_programme"],
        "theta": truth["theta"],
        "library_median": truth["library_median"],
        "marker_genes": dict(zip(cell_types, truth["markers"], strict=True)),
        "responsive_genes": dict(truth["responsive_genes"]),
        "specific_genes": specific,
        "interaction": dict(truth["interaction"]),
        "interaction_genes": dict(truth["interaction_genes"]),
    }
