"""Predictions for given cells (``predict``) and new cells (``generate``)."""

from __future__ import annotations

import warnings
from collections.abc import Mapping
from pathlib import Path

import pandas as pd
import torch
from anndata import AnnData
from mudata import MuData

from .._anndata import get_expression
from .._constants import DECODINGS, Decoding, check_choice
from .._outputs import check_count, check_output_keys, check_seed, check_temperature, record_outputs
from .._random import cell_keys, cell_uniform
from ._prediction_sink import DenseSink, H5adSink, SparseSink, check_output


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
            The arguments of this call.
        """
        stream_to = check_output(output, overwrite)
        if isinstance(adata, MuData):
            if inplace:  # before any work, as for an AnnData
                self._check_outputs(self._expression_data(adata), key_added, overwrite)
            result = self.predict(
                self._as_anndata(adata),
                perturbation,
                key_added=key_added,
                n_samples=n_samples,
                temperature=temperature,
                seed=seed,
                inplace=False,
                batch_size=batch_size,
                use_cache=use_cache,
                decoding=decoding,
                dose=dose,
                output=output,
                overwrite=overwrite,
            )
            if not inplace:
                return result
            rna = self._expression_data(adata)
            record_outputs(rna, key_added, f"X_{key_added}")
            if stream_to is None:
                rna.layers[key_added] = result.layers[key_added]
            rna.obsm[f"X_{key_added}"] = result.obsm[f"X_{key_added}"]
            rna.uns[f"{key_added}_params"] = result.uns[f"{key_added}_params"]
            return None
        self._check_ready()
        n_samples = check_count(n_samples, "n_samples")
        batch_size = check_count(batch_size, "batch_size")
        seed = check_seed(seed)
        asked = perturbation
        perturbation = self._check_perturbation(perturbation)
        dose = self._check_dose(asked, perturbation, dose)
        if inplace:
            self._check_outputs(adata, key_added, overwrite)
        decoding = self.decoding if decoding is None else decoding
        check_choice("decoding", decoding, DECODINGS)
        self._check_query(adata)
        builder = self.prompt_builder
        treatment = {builder.perturbation_key: str(perturbation)}
        if dose is not None:
            treatment[builder.dose_key] = dose
        conditions = adata.obs.assign(**treatment)
        self._check_conditions(conditions)
        temperature = check_temperature(self.temperature if temperature is None else temperature)
        if (
            self.module.source == "control"
            and builder.perturbation_key in adata.obs
            and (adata.obs[builder.perturbation_key].astype(str) != builder.control_value).any()
        ):
            warnings.warn(
                "Some of these cells are not control cells; the model starts each flow from the "
                "given cell, and it was trained to start from controls.",
                UserWarning,
                stacklevel=2,
            )
        generator = torch.Generator().manual_seed(seed)
        sources = expression = None
        if self.module.source == "control":
            expression = get_expression(adata, self._layer)
            with torch.no_grad():
                sources = self.module.representation.transform_matrix(expression).cpu()
        names = adata.obs_names
        states = [
            self._rollout_conditions(
                conditions,
                sources,
                temperature,
                generator,
                batch_size,
                use_cache,
                noise_keys=cell_keys(names, seed, stream=sample),
            )
            for sample in range(n_samples)
        ]
        kept = expression if decoding == "residual" else None
        shape = (adata.n_obs, len(self.var_names_))
        if stream_to is not None:
            sink = H5adSink(stream_to, *shape)
        else:
            sink = (SparseSink if output == "sparse" else DenseSink)(*shape)
        try:
            coordinates = self._to_outputs(states, sink, sources, kept)
        except BaseException:
            if stream_to is not None:
                sink.abort()
            raise
        params = {
            "perturbation": str(perturbation),
            "n_samples": int(n_samples),
            "temperature": temperature,
            "seed": int(seed),
            "source": self.module.source,
            "decoding": decoding if self.module.source == "control" else "pca",
        }
        if dose is not None:
            params["dose"] = dose
        obs = adata.obs.copy() if (stream_to is not None or not inplace) else None
        if obs is not None:
            for key, value in treatment.items():
                if key in obs:  # the source cells' own label stays beside the predicted one
                    obs[f"source_{key}"] = obs[key]
                obs[key] = value
        if stream_to is not None:
            params["output"] = str(stream_to)
            sink.finish(
                obs,
                adata.var.copy(),
                {f"X_{key_added}": coordinates},
                {f"{key_added}_params": params},
            )
            if not inplace:
                import anndata

                return anndata.read_h5ad(stream_to, backed="r")
            record_outputs(adata, obsm=f"X_{key_added}")
            adata.obsm[f"X_{key_added}"] = coordinates
            adata.uns[f"{key_added}_params"] = params
            return None
        expression = sink.result()
        if not inplace:
            return AnnData(
                X=expression,
                obs=obs,
                var=adata.var.copy(),
                layers={key_added: expression},
                obsm={f"X_{key_added}": coordinates},
                uns={f"{key_added}_params": params},
            )
        record_outputs(adata, key_added, f"X_{key_added}")
        adata.layers[key_added] = expression
        adata.obsm[f"X_{key_added}"] = coordinates
        adata.uns[f"{key_added}_params"] = params
        return None

    def _check_outputs(self, adata: AnnData, key_added: str, overwrite: bool) -> None:
        """Refuse a ``key_added`` that would replace the user's data (before any work)."""
        check_output_keys(
            adata,
            key_added,
            layer=key_added,
            obsm=f"X_{key_added}",
            protected_layer=self._layer,
            overwrite=overwrite,
        )

    def generate(
        self,
        obs_df: pd.DataFrame,
        temperature: float | None = None,
        seed: int = 0,
        batch_size: int = 512,
    ) -> AnnData:
        """Generate one new cell per row of ``obs_df``.

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
        self._check_conditions(obs_df)
        temperature = check_temperature(self.temperature if temperature is None else temperature)
        batch_size = check_count(batch_size, "batch_size")
        seed = check_seed(seed)
        generator = torch.Generator().manual_seed(seed)
        keys = cell_keys([str(name) for name in obs_df.index], seed)
        sources = None
        if self.module.source == "control":
            codes = self._context_codes(obs_df)
            if codes is None:
                raise ValueError(
                    "With source='control', generated cells start from training control cells "
                    "of the same cell type and covariates, and some requested values have none. "
                    "Use model.predict() on control cells of that kind instead."
                )
            with torch.no_grad():
                module = self.module
                contexts = module.context_index(codes.to(module.control_start.device))
                uniform = torch.as_tensor(cell_uniform(keys, 1, offset=1 << 41)[:, 0])
                sources = module.sample_controls(contexts, uniform=uniform).float().cpu()
        states = self._rollout_conditions(
            obs_df, sources, temperature, generator, batch_size, noise_keys=keys
        )
        sink = DenseSink(len(obs_df), len(self.var_names_))
        coordinates = self._to_outputs([states], sink)
        expression = sink.result()
        var_names = pd.Index(self.var_names_)
        return AnnData(
            X=expression,
            obs=obs_df.copy().set_index(pd.Index([str(i) for i in obs_df.index])),
            var=pd.DataFrame(index=var_names),
            obsm={"X_calmflow": coordinates},
        )
