"""Outputs that never replace the user's data.

Predictions are written under ``key_added``. A name that already holds something this package
did not write (a count layer, an embedding), or the layer a model reads its input from, is
refused unless the caller passes ``overwrite=True``; outputs written by an earlier prediction
(recorded in ``adata.uns["_calmflow_sc_outputs"]``) are replaced, as scanpy replaces its own.
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Mapping
from typing import Any

from anndata import AnnData

OUTPUTS_KEY = "_calmflow_sc_outputs"


def check_output_keys(
    adata: AnnData,
    key_added: str,
    layer: str | None = None,
    obsm: str | None = None,
    protected_layer: str | None = None,
    overwrite: bool = False,
) -> None:
    """Refuse outputs that would overwrite data this package did not write.

    Parameters
    ----------
    adata
        Where the outputs go.
    key_added
        The user's ``key_added`` (for the message).
    layer, obsm
        The layer and ``obsm`` entry to be written.
    protected_layer
        The layer the model reads its input from (``None``: ``X``).
    overwrite
        Allow it anyway.
    """
    if not isinstance(key_added, str) or not key_added:
        raise ValueError(f"key_added must be a non-empty string, got {key_added!r}.")
    if overwrite:
        return
    if layer is not None and layer == protected_layer:
        raise ValueError(
            f"key_added={key_added!r} names the layer the model reads its input from; writing "
            "predictions there would replace the data. Choose another key_added (or pass "
            "overwrite=True if you really mean it)."
        )
    ours = set(adata.uns.get(OUTPUTS_KEY, ()))
    clashes = []
    if layer is not None and layer in adata.layers and f"layers/{layer}" not in ours:
        clashes.append(f"adata.layers[{layer!r}]")
    if obsm is not None and obsm in adata.obsm and f"obsm/{obsm}" not in ours:
        clashes.append(f"adata.obsm[{obsm!r}]")
    if clashes:
        raise ValueError(
            f"key_added={key_added!r} would overwrite {' and '.join(clashes)}, which holds data "
            "not written by a calmflow-sc prediction. Choose another key_added, or pass "
            "overwrite=True to replace it."
        )


def record_outputs(adata: AnnData, layer: str | None = None, obsm: str | None = None) -> None:
    """Note the outputs a prediction wrote, so that the next one may replace them."""
    written = set(adata.uns.get(OUTPUTS_KEY, ()))
    if layer is not None:
        written.add(f"layers/{layer}")
    if obsm is not None:
        written.add(f"obsm/{obsm}")
    adata.uns[OUTPUTS_KEY] = sorted(written)


def check_count(value: object, name: str, minimum: int = 1) -> int:
    """An integer argument (Python or numpy) of at least ``minimum``."""
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise TypeError(f"{name} must be an integer, got {value!r} ({type(value).__name__}).")
    if int(value) < minimum:
        raise ValueError(f"{name} must be at least {minimum}, got {value}.")
    return int(value)


def check_seed(seed: object) -> int:
    """A seed: any non-negative Python or numpy integer."""
    return check_count(seed, "seed", minimum=0)


def check_temperature(value: object) -> float:
    """A finite, non-negative temperature."""
    try:
        temperature = float(value)
    except (TypeError, ValueError) as err:
        raise TypeError(f"temperature must be a number, got {value!r}.") from err
    if not math.isfinite(temperature) or temperature < 0:
        raise ValueError(
            f"temperature must be finite and at least 0, got {value!r} (0 rolls out "
            "deterministically, 1 is the default)."
        )
    return temperature


def recorded_prediction(
    pred: AnnData, pred_layer: str | None, key: str | None
) -> tuple[str | None, dict[str, Any]]:
    """The layer holding a prediction and the arguments ``predict`` recorded for it.

    A prediction written by :meth:`~calmflow_sc.CaLMFlowPerturb.predict` with ``key_added=key``
    records its arguments in ``pred.uns[key + "_params"]`` (as scanpy's tools do). With
    ``pred_layer`` given, that layer is read and its record, if any, returned. Otherwise the
    layer is ``key`` (the one prediction recorded in ``pred`` when ``key`` is ``None``), or
    ``X`` when ``pred`` has no such layer (an AnnData returned with ``inplace=False``) or
    records no prediction.

    Parameters
    ----------
    pred
        The predicted cells.
    pred_layer
        Layer asked for by the caller, or ``None``.
    key
        The ``key_added`` of the prediction, or ``None`` to find it.

    Returns
    -------
    The layer (``None`` for ``X``) and the recorded arguments (empty if none).
    """
    if pred_layer is not None:
        return pred_layer, dict(pred.uns.get(f"{pred_layer}_params", {}))
    if key is None:
        recorded = [
            name.removesuffix("_params")
            for name, value in pred.uns.items()
            if name.endswith("_params") and isinstance(value, Mapping) and "perturbation" in value
        ]
        if len(recorded) > 1:
            raise ValueError(
                f"pred holds the predictions of several calls ({sorted(recorded)}); pass "
                "key= (the key_added of the one to read) or pred_layer=."
            )
        if not recorded:
            return None, {}
        key = recorded[0]
    elif f"{key}_params" not in pred.uns:
        raise KeyError(
            f"pred.uns has no {key + '_params'!r}: pass the key_added of the model.predict call "
            "that wrote the prediction, or pred_layer=."
        )
    return (key if key in pred.layers else None), dict(pred.uns[f"{key}_params"])
