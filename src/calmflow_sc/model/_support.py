"""What each prediction stood on: its condition's prior, the knowledge used, and its support."""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd

from ..data import PCARepresentation, PromptBuilder
from ..nn import ConditionPrior

#: A condition predicted with a support below this is named in a warning: the nearest
#: measured component's knowledge has a cosine similarity below it with the component's own.
LOW_SUPPORT = 0.3


def support_record(
    prior: ConditionPrior,
    builder: PromptBuilder,
    representation: PCARepresentation,
    conditions: pd.DataFrame,
    coordinates: np.ndarray,
    source_coordinates: np.ndarray | None,
) -> dict[str, list]:
    """The prior of each distinct condition predicted, for ``uns[key + "_params"]["support"]``.

    Parameters
    ----------
    prior
        The model's condition prior.
    builder
        Names the condition columns.
    representation
        The model's PCA (effects are reported as principal-component shifts).
    conditions
        One row per predicted cell, with the condition columns.
    coordinates
        Predicted principal-component coordinates of the cells.
    source_coordinates
        Coordinates of the cells the flows started from (``None``: from noise).

    Returns
    -------
    Lists with one entry per distinct condition: its ``perturbation`` and ``context`` (the
    cell type and covariates, ``", "``-joined), the prior's ``kind``, its ``support``, the
    ``neighbours`` used (``"PART: NEIGHBOUR 0.41, ..."``; empty when nothing was estimated
    from knowledge), the number of ``cells``, and the norms of the ``prior_shift`` and of the
    ``predicted_shift`` (mean over the cells, principal-component space).
    """
    keys = builder.condition_keys
    frame = conditions[keys].astype(str).reset_index(drop=True)
    groups, _ = pd.MultiIndex.from_frame(frame).factorize()
    first = np.unique(groups, return_index=True)[1]
    unique = frame.iloc[first].reset_index(drop=True)
    estimate = prior.estimate(unique)
    scale = representation.scale.detach().cpu().numpy()
    record: dict[str, list] = {
        key: []
        for key in (
            "perturbation",
            "context",
            "kind",
            "support",
            "neighbours",
            "cells",
            "prior_shift",
            "predicted_shift",
        )
    }
    context_keys = [key for key in keys[1:] if key != builder.dose_key]
    for group, row in enumerate(unique.itertuples(index=False)):
        members = groups == group
        values = dict(zip(keys, row, strict=True))
        shift = np.nan
        if source_coordinates is not None:
            shift = coordinates[members].mean(0) - source_coordinates[members].mean(0)
            shift = float(np.linalg.norm(shift))
        record["perturbation"].append(values[builder.perturbation_key])
        record["context"].append(", ".join(values[key] for key in context_keys))
        record["kind"].append(estimate.kinds[group])
        record["support"].append(float(estimate.support[group]))
        record["neighbours"].append(_describe(estimate.neighbours[group]))
        record["cells"].append(int(members.sum()))
        record["prior_shift"].append(float(np.linalg.norm(estimate.effects[group] * scale)))
        record["predicted_shift"].append(shift)
    return record


def _describe(neighbours: dict[str, dict[str, float]]) -> str:
    return "; ".join(
        f"{part}: " + ", ".join(f"{name} {weight:.2f}" for name, weight in weights.items())
        for part, weights in neighbours.items()
    )


def warn_low_support(record: dict[str, list], threshold: float = LOW_SUPPORT) -> None:
    """Name the conditions of a support record predicted with support below ``threshold``."""
    low = sorted(
        {
            f"{perturbation} ({support:.2f})"
            for perturbation, support in zip(record["perturbation"], record["support"], strict=True)
            if support < threshold
        }
    )
    if low:
        warnings.warn(
            f"{len(low)} perturbation(s) were predicted with low support (the knowledge of a "
            f"component never measured is little like any measured one's): {low[:10]}. Their "
            "predictions lean on the mean measured effect; see uns[key_added + '_params']"
            "['support'] for the neighbours used.",
            UserWarning,
            stacklevel=3,
        )
