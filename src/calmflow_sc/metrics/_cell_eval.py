"""Predictions in the layout Arc Institute's ``cell-eval run`` reads."""

from __future__ import annotations

from pathlib import Path

import anndata
from anndata import AnnData


def to_cell_eval(
    pred: AnnData,
    real: AnnData,
    control: AnnData,
    out_dir: str | Path,
    perturbation_key: str,
    control_value: str = "control",
    layer: str | None = None,
    overwrite: bool = False,
) -> dict[str, Path]:
    """Write predicted and observed cells as the AnnData pair that ``cell-eval`` scores.

    cell-eval (PyPI ``cell-eval``, the Virtual Cell Challenge's metrics) compares two AnnData
    objects that each hold every perturbation and the control cells, labelled by one ``obs``
    column. This writes ``pred.h5ad`` (the predicted cells, then ``control``) and ``real.h5ad``
    (the observed perturbed cells, then the same ``control``), with ``X`` the expression
    (``layer`` of ``pred`` if given, e.g. ``"calmflow"``) and ``obs[perturbation_key]`` the
    perturbation, so that::

        cell-eval run -ap OUT/pred.h5ad -ar OUT/real.h5ad --control-pert control --pert-col condition

    scores them (or ``cell_eval.MetricsEvaluator(pred, real, control_pert=..., pert_col=...)``).

    Parameters
    ----------
    pred, real, control
        Predicted perturbed cells, observed perturbed cells and observed control cells, with the
        same genes in the same order and ``perturbation_key`` in ``pred.obs`` and ``real.obs``.
    out_dir
        Folder to write to (created if needed).
    perturbation_key
        The perturbation column; the controls get ``control_value`` there.
    control_value
        The label of the control cells.
    layer
        Layer of ``pred`` holding the prediction; ``None`` uses ``pred.X``.
    overwrite
        Replace existing files.

    Returns
    -------
    The paths written, ``{"pred": ..., "real": ...}``.

    Raises
    ------
    ValueError
        If the genes differ, a column is missing, a prediction is labelled as a control, or a
        file exists without ``overwrite``.
    """
    for name, adata in (("pred", pred), ("control", control)):
        if not adata.var_names.equals(real.var_names):
            raise ValueError(f"`{name}` and `real` must have the same genes in the same order.")
    for name, adata in (("pred", pred), ("real", real)):
        if perturbation_key not in adata.obs:
            raise ValueError(
                f"`{name}.obs` has no column {perturbation_key!r}; name the perturbation column."
            )
        if (adata.obs[perturbation_key].astype(str) == str(control_value)).any():
            raise ValueError(
                f"`{name}` has cells labelled {control_value!r}: pass perturbed cells only (the "
                "controls come from `control`)."
            )
    out_dir = Path(out_dir)
    paths = {"pred": out_dir / "pred.h5ad", "real": out_dir / "real.h5ad"}
    existing = [str(path) for path in paths.values() if path.exists()]
    if existing and not overwrite:
        raise ValueError(f"{existing} exist; pass overwrite=True to replace them.")
    if layer is not None:
        if layer not in pred.layers:
            raise ValueError(f"Layer {layer!r} is not in `pred.layers` ({list(pred.layers)}).")
        pred = AnnData(pred.layers[layer], obs=pred.obs, var=pred.var)
    controls = AnnData(control.X, obs=control.obs[[]].copy(), var=control.var)
    controls.obs[perturbation_key] = str(control_value)
    out_dir.mkdir(parents=True, exist_ok=True)
    for name, cells in (("pred", pred), ("real", real)):
        cells = AnnData(cells.X, obs=cells.obs[[perturbation_key]].astype(str), var=cells.var)
        joined = anndata.concat([cells, controls], index_unique="-")
        joined.obs[perturbation_key] = joined.obs[perturbation_key].astype(str)
        joined.var = real.var[[]].copy()
        joined.write_h5ad(paths[name])
    return paths
