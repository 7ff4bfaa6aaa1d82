"""Simulated single-cell perturbation experiment with a known ground truth."""

from __future__ import annotations

from typing import Any

import anndata as ad
import numpy as np
import pandas as pd
from scipy import sparse

from ..data import is_combination, join_components, label_parts

__all__ = ["simulated"]

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
_DONORS: tuple[str, ...] = ("donor_1", "donor_2")
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
_TARGET_SUM = 1e4


def _cell_type_names(n_cell_types: int) -> list[str]:
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


def _draw_ground_truth(rng: np.random.Generator, n_genes: int, n_cell_types: int) -> dict[str, Any]:
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
    donor_shift = rng.normal(0.0, _DONOR_SD, size=(len(_DONORS), n_genes))
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


def _sample_group(
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
    donor = np.repeat(np.arange(len(_DONORS)), [n_cells // 2, n_cells - n_cells // 2])
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


def _categorical(values: list[str], categories: list[str]) -> pd.Categorical:
    """Build a categorical with a fixed category order."""
    return pd.Categorical(values, categories=categories)


def simulated(
    n_cells_per_group: int = 100,
    n_genes: int = 1000,
    n_cell_types: int = 4,
    seed: int = 0,
) -> ad.AnnData:
    r"""Simulate a single-cell perturbation experiment with a known ground truth.

    The package's default dataset: a small cytokine-stimulation experiment in several immune cell
    types, generated by code (no files), deterministic for a given ``seed``. It has the structure
    of real perturbation screens (cell types, single and paired perturbations, donors, count noise,
    heterogeneous cells) and its true effects are stored, so methods can be checked against them.

    Parameters
    ----------
    n_cells_per_group
        Cells per (cell type, condition) group, split evenly across the two donors.
    n_genes
        Number of genes.
    n_cell_types
        Number of cell types. The first eight are named ``"T cell"``, ``"B cell"``,
        ``"monocyte"``, ``"NK cell"``, ``"dendritic cell"``, ``"plasma cell"``, ``"neutrophil"``
        and ``"megakaryocyte"``; further ones ``"cell type 9"``, ``"cell type 10"``, ...
    seed
        Seed of the random number generator.

    Returns
    -------
    anndata.AnnData
        ``n_cell_types * 6 * n_cells_per_group`` cells by ``n_genes`` genes, cells ordered by cell
        type, condition and donor:

        - ``X``: log1p of counts normalised to 1e4 per cell (CSR, float32).
        - ``layers["counts"]``: raw integer counts (CSR, int32).
        - ``obs["condition"]``: ``"control"``, the singles ``"IFNB"``, ``"TNF"``, ``"IL4"`` and the
          pairs ``"IFNB+TNF"``, ``"IFNB+IL4"`` (categorical, in this order).
        - ``obs["cell_type"]``, ``obs["donor"]`` (``"donor_1"``, ``"donor_2"``): categorical.
        - ``obsm["sim_latent"]``: per-cell latent variables, columns named in
          ``uns["simulation"]["latent_names"]``: activation state, cycling indicator,
          perturbation response strength.
        - ``var_names``: ``"gene_0000"``, ``"gene_0001"``, ...
        - ``uns["simulation"]``: the ground truth (see Notes).

    Raises
    ------
    ValueError
        If a size argument is not positive.

    Notes
    -----
    **Generative model.** Cell ``i`` of cell type ``k``, condition ``c`` and donor ``d`` has log
    rates over genes ``g``

    .. math::

        \eta_{ig} = b_{kg} + s_{dg} + a_i w_g + z_i v_g + r_i \Delta_{kcg},

    turned into expected counts :math:`\mu_{ig} = L_i \operatorname{softmax}(\eta_i)_g`.

    - Baseline :math:`b_{kg}`: a shared gene profile (normal, sd 1.5) plus a small cell-type
      deviation (sd 0.2) plus a marker programme per cell type (4 % of genes, log-fold about
      +1.8).
    - Donor shift :math:`s_{dg}`: normal (sd 0.1), centred over the two donors.
    - Within-group heterogeneity: a continuous activation state :math:`a_i \sim N(0, 1)` that
      moves an activation programme :math:`w` (5 % of genes), and a cycling indicator
      :math:`z_i \sim \text{Bernoulli}(0.15)` switching on a cycling programme :math:`v`
      (2 % of genes, log-fold +1.5).
    - Per-cell response strength :math:`r_i \sim \text{Gamma}(6, 1/6)` (mean 1), so some cells
      respond more than others.
    - Single perturbation :math:`p`: a shared effect programme :math:`\beta_p` (6 % of genes,
      70 % up-regulated, mean absolute log-fold about 1.5 times a perturbation strength: IFNB 1.0,
      TNF 0.75, IL4 0.6). In cell type :math:`k` it becomes
      :math:`\Delta_{kp} = \alpha_{kp} \beta_p (1 + \epsilon_{kp}) + \gamma_{kp}`
      with a cell-type scale :math:`\alpha_{kp} \sim U(0.4, 1.5)`, a gene-level modulation
      :math:`\epsilon_{kpg} \sim N(0, 0.25^2)` and cell-type-specific responsive genes
      :math:`\gamma_{kp}` (1 % of genes, drawn among the cell type's markers, normal effects).
    - Pair :math:`p+q`: :math:`\Delta_{k,p+q} = \Delta_{kp} + \Delta_{kq} +
      \tfrac{1}{2}(\alpha_{kp} + \alpha_{kq}) \iota_{pq}`, where the non-additive
      interaction :math:`\iota_{pq}` is non-zero (normal, sd 0.5) on 1 % of genes drawn among the
      responsive genes of :math:`p` and :math:`q`.
    - All effects :math:`\Delta` are clipped to [-4, 4].
    - Library size :math:`L_i`: log-normal (sd 0.35) around a cell-type median drawn in
      [2000, 5000], times 0.85 for the second donor.
    - Counts: negative binomial with mean :math:`\mu_{ig}` and gene-wise inverse dispersion
      :math:`\theta_g` (log-normal around 3), drawn as a Poisson-gamma mixture.

    **Ground truth.** ``uns["simulation"]`` holds (all storable in h5ad):

    - ``seed``, ``params`` (the arguments and the fixed model constants), ``cell_types``,
      ``conditions``, ``perturbations``, ``pairs``, ``donors``, ``latent_names``.
    - ``effect``: the true mean log-effect :math:`\Delta_{kcg}`, an array of shape
      ``(n_cell_types, n_conditions, n_genes)`` indexed like ``cell_types``, ``conditions`` and
      ``var_names`` (axes named in ``effect_axes``); the control rows are zero. It is the mean
      shift of the log rate (the per-cell strength has mean 1).
    - ``log_fold_change``: same shape, the expected change of log relative expression (what the
      normalised ``X`` measures): :math:`\Delta_{kcg} - \log Z_{kc}` with
      :math:`Z_{kc} = \sum_g \operatorname{softmax}(b_k)_g e^{\Delta_{kcg}}`, evaluated at the
      average cell state. Strongly induced, highly expressed genes take a larger share of the
      library, so every other gene's relative expression drops by :math:`\log Z_{kc}`. The
      observed change in mean log1p expression tracks it, shrunk for lowly expressed genes.
    - ``baseline_log_mean`` (cell types x genes), ``donor_shift`` (donors x genes),
      ``shared_effect`` (perturbations x genes), ``cell_type_scale`` (cell types x
      perturbations), ``activation_loading`` and ``cycling_programme`` (genes), ``theta``
      (genes), ``library_median`` (cell types).
    - ``marker_genes`` (cell type -> gene indices), ``responsive_genes`` (perturbation -> gene
      indices of the shared programme), ``specific_genes`` (``"<cell type>|<perturbation>"`` ->
      gene indices), ``interaction`` (pair -> non-additive term, genes) and
      ``interaction_genes`` (pair -> gene indices).

    Examples
    --------
    >>> from calmflow_sc.datasets import simulated
    >>> adata = simulated(n_cells_per_group=20, n_genes=200)
    >>> adata.shape
    (480, 200)
    >>> adata.obs["condition"].cat.categories.tolist()
    ['control', 'IFNB', 'TNF', 'IL4', 'IFNB+TNF', 'IFNB+IL4']
    """
    for name, value in (
        ("n_cells_per_group", n_cells_per_group),
        ("n_genes", n_genes),
        ("n_cell_types", n_cell_types),
    ):
        if int(value) < 1:
            raise ValueError(f"{name} must be a positive integer, got {value!r}.")
    n_cells_per_group, n_genes, n_cell_types = (
        int(n_cells_per_group),
        int(n_genes),
        int(n_cell_types),
    )

    rng = np.random.default_rng(seed)
    truth = _draw_ground_truth(rng, n_genes, n_cell_types)
    cell_types = _cell_type_names(n_cell_types)
    conditions: list[str] = truth["conditions"]

    blocks: list[sparse.csr_matrix] = []
    obs_cell_type: list[str] = []
    obs_condition: list[str] = []
    obs_donor: list[str] = []
    latents: list[np.ndarray] = []
    for k, cell_type in enumerate(cell_types):
        for c, condition in enumerate(conditions):
            counts, donor, latent = _sample_group(rng, truth, k, c, n_cells_per_group)
            blocks.append(sparse.csr_matrix(counts.astype(np.int32)))
            obs_cell_type += [cell_type] * n_cells_per_group
            obs_condition += [condition] * n_cells_per_group
            obs_donor += [_DONORS[d] for d in donor]
            latents.append(latent)

    counts_matrix = sparse.vstack(blocks, format="csr", dtype=np.int32)
    counts_matrix.sort_indices()
    totals = np.asarray(counts_matrix.sum(axis=1), dtype=np.float64).ravel()
    size_factor = _TARGET_SUM / np.maximum(totals, 1.0)
    x = counts_matrix.astype(np.float32)
    x.data *= np.repeat(size_factor, np.diff(x.indptr)).astype(np.float32)
    np.log1p(x.data, out=x.data)

    n_cells = counts_matrix.shape[0]
    width = max(4, len(str(n_genes - 1)))
    obs = pd.DataFrame(
        {
            "condition": _categorical(obs_condition, conditions),
            "cell_type": _categorical(obs_cell_type, cell_types),
            "donor": _categorical(obs_donor, list(_DONORS)),
        },
        index=pd.Index([f"cell_{i:0{len(str(n_cells - 1))}d}" for i in range(n_cells)]),
    )
    var = pd.DataFrame(index=pd.Index([f"gene_{g:0{width}d}" for g in range(n_genes)]))

    adata = ad.AnnData(X=x, obs=obs, var=var, layers={"counts": counts_matrix})
    adata.obsm["sim_latent"] = np.vstack(latents)
    adata.uns["simulation"] = _ground_truth_record(
        truth, cell_types, seed, n_cells_per_group, n_genes, n_cell_types
    )
    return adata


def _ground_truth_record(
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
        "target_sum": _TARGET_SUM,
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
        "donors": list(_DONORS),
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
