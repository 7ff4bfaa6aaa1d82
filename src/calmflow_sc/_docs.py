"""Parameters described once and substituted into every docstring that takes them.

A docstring decorated with :meth:`doc.dedent <docrep.DocstringProcessor.dedent>` is dedented
and its ``%(param_<name>)s`` lines replaced by the paragraphs below (scvi-tools'
``setup_anndata_dsp``), so that the setup keys read the same in the model, the baselines, the
splits and the tools. A use may continue the description on the next, indented line.
"""

from __future__ import annotations

from docrep import DocstringProcessor

param_adata = """\
adata
    AnnData object. Rows represent cells, columns represent features."""

param_perturbation_key = """\
perturbation_key
    Column of ``adata.obs`` with each cell's perturbation; combinations are joined by ``"+"``
    (``"IFNB+TNF"``)."""

param_control_value = """\
control_value
    Value of that column for unperturbed (control) cells."""

param_cell_type_key = """\
cell_type_key
    Column of ``adata.obs`` with each cell's cell type (optional)."""

param_covariate_keys = """\
covariate_keys
    Further columns of ``adata.obs`` that describe a cell (donor, dose, exposure ...): one
    name or a list of names (optional)."""

param_layer = """\
layer
    Layer holding log-normalised expression; ``None`` uses ``adata.X``."""

param_dose_key = """\
dose_key
    Column with each cell's dose: a number for every component of its perturbation, or one
    per component joined by ``"+"`` (``"10+2.5"`` for ``"A+B"``). A dose is part of a
    condition (cells at different doses are different conditions), scales its component's
    code (``prompt_encoder="components"`` and ``"onehot"``) and is named in text prompts.
    Give it on the scale it should act on (e.g. ``log10(1 + nM)``); control cells need a
    number too (any, e.g. 0)."""

#: The processor of the package's docstrings.
doc = DocstringProcessor(
    param_adata=param_adata,
    param_perturbation_key=param_perturbation_key,
    param_control_value=param_control_value,
    param_cell_type_key=param_cell_type_key,
    param_covariate_keys=param_covariate_keys,
    param_layer=param_layer,
    param_dose_key=param_dose_key,
)
