"""Predictions for given cells (``predict``) and new cells (``generate``)."""

from __future__ import annotations

import warnings
from collections.abc import Mapping
from pathlib import Path

import numpy as np
import pandas as pd
from anndata import AnnData
from mudata import MuData

from .._anndata import get_expression
from .._constants import DECODINGS, Decoding, check_choice
from .._expression import check_expression
from .._outputs import check_count, check_seed, check_temperature
from ..data import align_query_genes
from ._prediction_writer import PredictionWriter, check_output
from ._predictor import Predictor
from ._support import support_record, warn_low_support


class PredictionMixin:
    """Predicting perturbed cells and generating new ones.

    A part of :class:`~calmflow_sc.CaLMFlowPerturb`, which combines it with scvi-tools'
    base classes.
    """

    def predict(
        self,
        adata: AnnData | MuData,
        perturbation: str,
        key_added: str = "calmflow",
        n_samples: int = 1,
        temperature: float | None = None,
        seed: int = 0,
        inplace: bool = True,
        batch_size: int = 512,
        use_cache: bool = True,
        decoding: Decoding | None = None,
        overwrite: bool = False,
        dose: float | str | Mapping[str, float] | None = None,
        output: str | Path = "dense",
        keep_zeros: bool = True,
    ) -> AnnData | None:
        """Predict each cell's state under a perturbation.

        Every cell keeps its own cell type and covariates; only the perturbation changes.
        With ``source="control"`` each cell's own expression is where its flow starts (a
        per-cell counterfactual); with ``source="gaussian"`` each cell gets a sample of its
        condition. Conditions never seen in training (a new cell type x perturbation
        combination, a new pair of seen perturbations) are described to the model in text;
        with ``prompt_encoder="components"`` a perturbation is composed of its components'
        codes, and a component never measured is read from its description or embedding
        (one without either is refused with
        :class:`~calmflow_sc.nn.UnknownComponentError`).

        Parameters
        ----------
        adata
            Cells to predict from, usually control cells, with the training genes: an
            AnnData, or a MuData whose RNA modality receives the outputs.
        perturbation
            Target perturbation, e.g. ``"IFNB"`` or ``"IFNB+TNF"`` (the order of the
            components does not matter).
        key_added
            Name of the outputs.
        n_samples
            Samples per cell, averaged.
        temperature
            Inference temperature ``tau``; ``None`` uses the model's default.
        seed
            Seed of the sampling noise. Each cell's noise is drawn from the seed and its name
            (``obs_names``), so that with the same seed a cell gets the same prediction
            whatever the other cells of the query, their order or ``batch_size`` (for
            ``n_trajectories=1``, the default).
        inplace
            Write into ``adata``; otherwise return a new AnnData.
        batch_size
            Sequences rolled out at once.
        use_cache
            Use the key/value cache during rollout.
        decoding
            How model-space predictions return to gene space (``source="control"``):
            ``"residual"`` moves each given cell by its flow's displacement and keeps the
            detail of its expression outside the principal subspace; ``"pca"`` maps the
            predicted state through the inverse PCA alone. ``None`` uses the model's default.
        overwrite
            Allow ``key_added`` to replace a layer or ``obsm`` entry that an earlier prediction
            did not write, or the registered input layer. Without it such names are refused;
            outputs of an earlier prediction are replaced.
        dose
            The perturbation's dose, for models set up with a ``dose_key`` (and only for
            them): a number for every component, one per component joined by ``"+"`` in the
            order ``perturbation`` names them, or a mapping of component to dose. Doses never
            trained are read on the scale of the trained ones.
        output
            Where the gene-space predictions go: ``"dense"`` (a dense float32 layer),
            ``"sparse"`` (a CSR layer; the zeros of the prediction, clipped at zero, are not
            stored), or the path of a new ``.h5ad`` file they are streamed to block by block
            (``overwrite=True`` replaces an existing one): memory then holds one block of
            cells in gene space whatever their number, and ``adata`` gets the coordinates
            and parameters but no layer. The file holds the predictions in ``X``, ``obs``
            (the perturbation set to ``perturbation``), ``var``, ``obsm`` and ``uns``; read it
            with :func:`anndata.read_h5ad`, ``backed="r"`` for large ones. ``adata`` may be
            backed (``anndata.read_h5ad(path, backed="r")``): its expression is read block by
            block.
        keep_zeros
            Give predicted cells real cells' zeros: a gene-space value no real cell has
            (between 0 and the gene's lowest detected level in the training cells, the 10th
            percentile of its non-zero values) becomes 0 or that level at random, with its
            expected value kept, so that the fraction of cells detecting a gene (scanpy's dot
            plots) matches real cells'. ``False`` returns the dense values of the decoding
            (every gene of every cell moved a little). Models saved before this option
            existed keep dense values.

        Returns
        -------
        ``None`` when ``inplace``; else an AnnData whose ``X`` holds the predictions, with the
        perturbation column set to ``perturbation`` (the source cells' own value kept in
        ``"source_" + column``) and the outputs below (with a file ``output``, that file opened
        ``backed="r"``).

        Writes
        ------
        ``adata.layers[key_added]``
            Predicted expression of every gene, on the scale of the registered layer.
        ``adata.obsm["X_" + key_added]``
            Predicted principal-component coordinates (the model's PCA).
        ``adata.uns[key_added + "_params"]``
            The arguments of this call; with ``condition_prior=True``, also ``"support"``:
            per condition predicted, the prior's kind, its support, the knowledge neighbours
            used and the prior and predicted shifts (:func:`~calmflow_sc.pl.prior_support`
            plots them). A condition of low support is named in a warning.
        """
        stream_to = check_output(output, overwrite)
        query = self._as_anndata(adata)
        self._check_ready()
        n_samples = check_count(n_samples, "n_samples")
        batch_size = check_count(batch_size, "batch_size")
        seed = check_seed(seed)
        asked = perturbation
        perturbation = self.condition_space.check_perturbation(perturbation)
        dose = self.condition_space.check_dose(asked, perturbation, dose)
        writer = PredictionWriter(
            key_added,
            output if stream_to is None else stream_to,
            into=self._expression_data(adata) if inplace else None,
            protected_layer=self._layer,
            overwrite=overwrite,
        )
        decoding = self.decoding if decoding is None else decoding
        check_choice("decoding", decoding, DECODINGS)
        query, writer.gene_order = self._check_query(query, inplace and stream_to is None)
        builder = self.prompt_builder
        treatment = {builder.perturbation_key: str(perturbation)}
        if dose is not None:
            treatment[builder.dose_key] = dose
        conditions = query.obs.assign(**treatment)
        self.condition_space.check_conditions(
            conditions, self.prompt_encoder, self.condition_prompts.check_components
        )
        temperature = check_temperature(self.temperature if temperature is None else temperature)
        source = self.module.source
        if (
            source == "control"
            and builder.perturbation_key in query.obs
            and (query.obs[builder.perturbation_key].astype(str) != builder.control_value).any()
        ):
            warnings.warn(
                "Some of these cells are not control cells; the model starts each flow from the "
                "given cell, and it was trained to start from controls.",
                UserWarning,
                stacklevel=2,
            )
        expression = get_expression(query, self._layer) if source == "control" else None
        predictor = Predictor(
            self.module, builder, self.condition_prompts, temperature, batch_size, use_cache
        )
        prediction = predictor.predict(
            conditions, expression, seed, n_samples, decoding, keep_zeros=keep_zeros
        )
        params = {
            "perturbation": str(perturbation),
            "n_samples": int(n_samples),
            "temperature": temperature,
            "seed": int(seed),
            "source": source,
            "decoding": decoding if source == "control" else "pca",
            "keep_zeros": bool(keep_zeros),
        }
        if dose is not None:
            params["dose"] = dose
        if self.module.condition_prior is not None:
            params["support"] = support_record(
                self.module.condition_prior,
                builder,
                self.module.representation,
                conditions,
                prediction.coordinates,
                prediction.source_coordinates,
            )
            warn_low_support(params["support"])
        return writer.write(prediction, query.obs, query.var, params, treatment)

    def _check_ready(self) -> None:
        """Refuse to predict with an untrained model (scvi-tools' check, as an error)."""
        self._check_if_trained(
            warn=False,
            message="The model is not trained yet: call model.train() before predicting.",
        )

    def _check_query(self, adata: AnnData, whole_layer: bool) -> tuple[AnnData, np.ndarray | None]:
        """The query on the training genes in order, refused unless it has valid expression.

        Returns the aligned query and the gene positions that put predictions back in the
        query's order (:func:`~calmflow_sc.data.align_query_genes`).
        """
        if not isinstance(adata, AnnData):
            raise TypeError(f"Expected an AnnData, got {type(adata).__name__}.")
        if adata.n_obs == 0:
            raise ValueError("The AnnData to predict has no cells.")
        aligned, back = align_query_genes(adata, self.var_names_, whole_layer)
        check_expression(aligned, self._layer)
        return aligned, back

    def generate(
        self,
        obs_df: pd.DataFrame,
        temperature: float | None = None,
        seed: int = 0,
        batch_size: int = 512,
    ) -> AnnData:
        """Generate one new cell per row of ``obs_df``.

        Generated cells have real cells' zeros, as with ``predict(keep_zeros=True)``.

        Parameters
        ----------
        obs_df
            One row per cell to generate, with the perturbation, cell-type and covariate
            columns the model was set up with.
        temperature
            Inference temperature ``tau``; ``None`` uses the model's default.
        seed
            Seed of the sampling noise. Each row's noise (and, with ``source="control"``, the
            control cell it starts from) is drawn from the seed and the row's index label, so
            that a row gives the same cell whatever the other rows, their order or
            ``batch_size``.
        batch_size
            Sequences rolled out at once.

        Returns
        -------
        AnnData with the generated expression in ``X`` (training genes, scale of the
        registered layer), ``obs`` a copy of ``obs_df`` and principal-component coordinates in
        ``obsm["X_calmflow"]``. With ``source="control"``, each flow starts from a random
        training control cell of the same cell type and covariates.
        """
        self._check_ready()
        if not isinstance(obs_df, pd.DataFrame) or len(obs_df) == 0:
            raise ValueError("obs_df must be a non-empty pandas DataFrame, one row per cell.")
        self.condition_space.check_conditions(
            obs_df, self.prompt_encoder, self.condition_prompts.check_components
        )
        temperature = check_temperature(self.temperature if temperature is None else temperature)
        batch_size = check_count(batch_size, "batch_size")
        seed = check_seed(seed)
        contexts = None
        if self.module.source == "control":
            codes = self.condition_space.context_codes(obs_df)
            if codes is None:
                raise ValueError(
                    "With source='control', generated cells start from training control cells "
                    "of the same cell type and covariates, and some requested values have none. "
                    "Use model.predict() on control cells of that kind instead."
                )
            contexts = self.condition_space.context_index(codes)
        predictor = Predictor(
            self.module, self.prompt_builder, self.condition_prompts, temperature, batch_size
        )
        prediction = predictor.generate(obs_df, seed, contexts)
        return PredictionWriter("calmflow", copy_to_layer=False).write(
            prediction,
            obs_df.set_index(pd.Index([str(i) for i in obs_df.index])),
            pd.DataFrame(index=pd.Index(self.var_names_)),
        )
