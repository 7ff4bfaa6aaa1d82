"""Outputs that never replace the user's data.

Predictions are written under ``key_added``. A name that already holds something this package
did not write (a count layer, an embedding), or the layer a model reads its input from, is
refused unless the caller passes ``overwrite=True``; outputs written by an earlier prediction
(recorded in ``adata.uns["_calmflow_sc_outputs"]``) are replaced, as scanpy replaces its own.
"""

from __future__ import annotations

import math
import numbers

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
