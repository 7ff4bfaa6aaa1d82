# Configuration file for the Sphinx documentation builder.
# https://www.sphinx-doc.org/en/master/usage/configuration.html
from __future__ import annotations

import os
import shutil
import sys
import warnings
from importlib.metadata import PackageNotFoundError
from importlib.metadata import version as _pkg_version
from pathlib import Path

HERE = Path(__file__).parent

# sphinx-autodoc-typehints 3.6 calls a Sphinx API deprecated in Sphinx 9; this is a Python
# warning (not a Sphinx warning, so it does not fail -W) but it floods the log.
warnings.filterwarnings("ignore", message=r".*set_application.* is deprecated")
# Make the package importable from a source checkout without installing it.
sys.path.insert(0, str(HERE.parent / "src"))

# -- Project information -----------------------------------------------------

project = "calmflow-sc"
author = "calmflow-sc developers"
copyright = f"2026, {author}"
try:
    release = _pkg_version("calmflow-sc")
except PackageNotFoundError:
    release = "0.1.0"
version = release

repository_url = "https://github.com/calmflow-sc/calmflow-sc"

# -- General configuration ---------------------------------------------------

extensions = [
    "myst_nb",
    "sphinx.ext.autodoc",
    "sphinx.ext.autosummary",
    "sphinx.ext.intersphinx",
    "sphinx.ext.mathjax",
    "sphinx.ext.napoleon",
    # Must come after napoleon.
    "sphinx_autodoc_typehints",
]

templates_path = ["_templates"]
exclude_patterns = ["_build", "Thumbs.db", ".DS_Store", "**.ipynb_checkpoints"]
master_doc = "index"
default_role = "literal"
nitpicky = False

# autodoc / autosummary
autosummary_generate = True
autodoc_member_order = "groupwise"
autodoc_typehints = "description"
typehints_defaults = "braces"

# napoleon: numpydoc-style docstrings only
napoleon_google_docstring = False
napoleon_numpy_docstring = True
napoleon_include_init_with_doc = False
napoleon_use_rtype = True
napoleon_use_param = True

# MyST / myst-nb
myst_heading_anchors = 6
myst_enable_extensions = [
    "amsmath",
    "colon_fence",
    "deflist",
    "dollarmath",
    "html_image",
    "html_admonition",
]
myst_url_schemes = ("http", "https", "mailto")
# The tutorials live in ../tutorials (where users find them); they are copied here and run
# at every build, so the rendered pages always show what the current code does. Set
# CALMFLOW_SC_DOCS_EXECUTE=0 for a quick build that shows them without outputs.
_TUTORIALS = HERE.parent / "tutorials"
(HERE / "tutorials").mkdir(exist_ok=True)
for _notebook in sorted(_TUTORIALS.glob("*.ipynb")):
    shutil.copyfile(_notebook, HERE / "tutorials" / _notebook.name)
nb_execution_mode = "force" if os.environ.get("CALMFLOW_SC_DOCS_EXECUTE", "1") != "0" else "off"
nb_execution_timeout = 900
nb_execution_in_temp = True
nb_execution_raise_on_error = True
nb_output_stderr = "remove"
nb_merge_streams = True

# intersphinx: the default build is offline, so the mapping is empty unless explicitly
# enabled (CI sets CALMFLOW_SC_DOCS_INTERSPHINX=1; Read the Docs sets READTHEDOCS=True).
_INTERSPHINX = {
    "python": ("https://docs.python.org/3", None),
    "numpy": ("https://numpy.org/doc/stable/", None),
    "anndata": ("https://anndata.readthedocs.io/en/stable/", None),
    "scanpy": ("https://scanpy.readthedocs.io/en/stable/", None),
    "scvi-tools": ("https://docs.scvi-tools.org/en/stable/", None),
    "torch": ("https://docs.pytorch.org/docs/stable/", None),
}
_online = (
    os.environ.get("CALMFLOW_SC_DOCS_INTERSPHINX") == "1" or os.environ.get("READTHEDOCS") == "True"
)
intersphinx_mapping = _INTERSPHINX if _online else {}

# -- Options for HTML output -------------------------------------------------

html_title = project
try:
    import sphinx_book_theme  # noqa: F401
except ImportError:
    html_theme = "alabaster"
    html_theme_options = {}
else:
    html_theme = "sphinx_book_theme"
    html_theme_options = {
        "repository_url": repository_url,
        "repository_branch": "main",
        "path_to_docs": "docs",
        "use_repository_button": True,
        "navigation_with_keys": False,
    }

pygments_style = "default"
