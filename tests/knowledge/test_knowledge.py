"""The shipped gene knowledge: offline loading, names, and a little biology."""

from __future__ import annotations

import subprocess
import sys
import warnings

import numpy as np
import pandas as pd
import pytest

import calmflow_sc as cfs
from calmflow_sc import knowledge


def test_loads_offline_without_torch():
    code = (
        "import sys, socket\n"
        "socket.socket = None\n"  # any network use fails
        "import calmflow_sc as cfs\n"
        "emb = cfs.knowledge.gene_embeddings(['MAP2K3'])\n"
        "assert emb.shape == (1, 64), emb.shape\n"
        "assert 'torch' not in sys.modules\n"
    )
    env = {"HF_HUB_OFFLINE": "1", "PYTHONPATH": ":".join(sys.path)}
    subprocess.run([sys.executable, "-c", code], check=True, env=env)


def test_embeddings_are_unit_rows_of_every_annotated_gene():
    emb = knowledge.gene_embeddings()
    assert emb.shape == (18780, 64)
    assert emb.index.is_unique
    np.testing.assert_allclose(np.linalg.norm(emb.to_numpy(), axis=1), 1.0, atol=2e-3)


def test_unknown_names_are_named_in_the_warning_with_close_matches():
    with pytest.warns(UserWarning, match=r"'IFGNR2' \(did you mean IFNGR2") as record:
        emb = knowledge.gene_embeddings(["MAP2K3", "IFGNR2", "NOTAGENE"])
    assert list(emb.index) == ["MAP2K3"]
    assert "'NOTAGENE'" in str(record[0].message)


def test_strict_raises_naming_the_unknown():
    with pytest.raises(knowledge.UnknownGeneError, match="NOTAGENE"):
        knowledge.gene_embeddings(["NOTAGENE"], strict=True)
    with pytest.raises(knowledge.UnknownGeneError, match="NOTAGENE"):
        knowledge.resolve_symbols(["MAP2K3", "NOTAGENE"], strict=True)


def test_aliases_resolve_to_symbols():
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert knowledge.resolve_symbols(["MKK6", "MEK3", "MAP2K6"]) == {
            "MKK6": "MAP2K6",
            "MEK3": "MAP2K3",
            "MAP2K6": "MAP2K6",
        }
        emb = knowledge.gene_embeddings(["MKK6"])
    assert list(emb.index) == ["MAP2K6"]


def test_letter_case_is_not_guessed():
    with pytest.warns(UserWarning, match=r"'ctrl'"):
        assert knowledge.resolve_symbols(["ctrl"]) == {}


def test_related_kinases_are_closer_than_unrelated_genes():
    emb = knowledge.gene_embeddings()
    rng = np.random.default_rng(0)
    others = emb.drop(index=["MAP2K3", "MAP2K6"]).sample(500, random_state=rng)
    related = float(emb.loc["MAP2K3"] @ emb.loc["MAP2K6"])
    unrelated = np.median(others.to_numpy() @ emb.loc["MAP2K3"].to_numpy())
    assert related > unrelated + 0.3


def test_descriptions_name_the_gene_and_its_specific_terms():
    text = knowledge.gene_descriptions(["MAP2K6", "MKK6"])
    assert text["MAP2K6"] == text["MKK6"]
    assert text["MAP2K6"].startswith("MAP2K6 (mitogen-activated protein kinase kinase 6).")
    assert "p38MAPK cascade" in text["MAP2K6"]


def test_families_include_containing_families():
    assert knowledge.families(["MAP2K3"]) == {"MAP2K3": ["MAP2K"]}
    assert "MAP2K6" in knowledge.family_members("MAP2K")


def test_perturbations_through_receptors_genes_and_families():
    emb = knowledge.perturbation_embeddings(
        ["IFNB1", "MAP2K3", "MAP2K"], receptors={"IFNB1": ["IFNAR1", "IFNAR2"]}
    )
    assert emb.attrs["source"] == {"IFNB1": "receptors", "MAP2K3": "gene", "MAP2K": "family"}
    genes = knowledge.gene_embeddings(["IFNAR1", "IFNAR2"]).to_numpy().mean(axis=0)
    np.testing.assert_allclose(emb.loc["IFNB1"], genes / np.linalg.norm(genes), atol=1e-6)
    np.testing.assert_allclose(emb.loc["MAP2K3"], knowledge.gene_embeddings(["MAP2K3"]).iloc[0])


def test_perturbation_embeddings_keep_the_given_names_and_name_the_unknown():
    with pytest.warns(UserWarning, match="'ctrl'"):
        emb = knowledge.perturbation_embeddings(["MKK6", "ctrl"])
    assert list(emb.index) == ["MKK6"]
    assert emb.dtypes.unique().tolist() == [np.dtype("float32")]


def test_no_known_perturbation_gives_an_empty_frame():
    with pytest.warns(UserWarning, match="'ctrl'"):
        emb = knowledge.perturbation_embeddings(["ctrl"])
    assert emb.shape == (0, 64)


def test_ligand_receptors_read_a_liana_table(tmp_path):
    path = tmp_path / "omni_resource.csv"
    pd.DataFrame(
        {
            "source_genesymbol": ["IFNB1", "IL12A_IL12B", "IFNB1"],
            "target_genesymbol": ["IFNAR1_IFNAR2", "IL12RB1_IL12RB2", "FOO"],
            "resource": ["consensus", "consensus", "other"],
        }
    ).to_csv(path)
    pairs = knowledge.ligand_receptors(path)
    assert pairs == {
        "IFNB1": ["IFNAR1", "IFNAR2"],
        "IL12A": ["IL12RB1", "IL12RB2"],
        "IL12B": ["IL12RB1", "IL12RB2"],
    }


def test_ligand_receptors_without_liana_say_why(monkeypatch):
    monkeypatch.setattr("importlib.util.find_spec", lambda name: None)
    with pytest.raises(ModuleNotFoundError, match="not shipped"):
        knowledge.ligand_receptors()


def test_usable_as_the_models_component_knowledge():
    from calmflow_sc.nn import ComponentKnowledge, as_embedding_frame

    frame = as_embedding_frame(knowledge.perturbation_embeddings(["MAP2K3", "MAP2K6"]))
    built = ComponentKnowledge.build(embeddings=frame)
    assert built.names == ["MAP2K3", "MAP2K6"]
    assert built.embedding_dim == 64


def test_registered_at_the_top_level():
    assert "knowledge" in dir(cfs)
    assert cfs.knowledge is knowledge


@pytest.mark.parametrize(
    "module", ["_symbols", "_embeddings", "_descriptions", "_families", "_perturbations"]
)
def test_docstring_examples_hold(module):
    import doctest
    import importlib

    found = importlib.import_module(f"calmflow_sc.knowledge.{module}")
    result = doctest.testmod(found, optionflags=doctest.ELLIPSIS)
    assert result.failed == 0


def test_a_known_gene_without_annotation_gets_no_suggestions():
    with pytest.warns(UserWarning, match="No GO annotation") as caught:
        frame = knowledge.gene_embeddings(["IER5L", "MAP2K3"])
    assert list(frame.index) == ["MAP2K3"]
    message = str(caught[0].message)
    assert "'IER5L'" in message and "did you mean" not in message
