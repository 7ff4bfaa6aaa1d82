"""Free-text descriptions of the perturbations of the shipped datasets.

Gene descriptions follow the NCBI Gene summaries, shortened; the Norman 2019 perturbations are
CRISPRa over-expressions. They are prior knowledge for
``CaLMFlowPerturb(perturbation_descriptions=...)`` and
:class:`~calmflow_sc.baselines.NearestPerturbationBaseline`.
"""

from __future__ import annotations

_KANG2018 = {
    "stimulated": (
        "interferon beta (IFN-beta), a type I interferon that induces interferon-stimulated "
        "genes through JAK-STAT signalling"
    ),
}


_NORMAN2019 = {
    gene: f"over-expression of {text}"
    for gene, text in {
        "BPGM": "bisphosphoglycerate mutase, which makes 2,3-bisphosphoglycerate in red cells",
        "CBL": "Cbl, an E3 ubiquitin ligase that down-regulates receptor tyrosine kinases",
        "CEBPE": "CCAAT/enhancer-binding protein epsilon, a granulocyte transcription factor",
        "CNN1": "calponin 1, an actin-binding protein of smooth muscle",
        "FOXL2": "forkhead box L2, a forkhead transcription factor",
        "FOXO4": "forkhead box O4, a transcription factor of insulin and stress signalling",
        "HK2": "hexokinase 2, the first enzyme of glycolysis",
        "HOXB9": "homeobox B9, a homeobox transcription factor",
        "IER5L": "immediate early response 5 like",
        "KLF1": "Kruppel-like factor 1, the erythroid transcription factor of globin genes",
        "KMT2A": "lysine methyltransferase 2A (MLL1), a histone H3K4 methyltransferase",
        "MAP2K3": "MAP kinase kinase 3, an activator of p38 MAP kinases",
        "MAP2K6": "MAP kinase kinase 6, an activator of p38 MAP kinases",
        "MAP3K21": "MAP kinase kinase kinase 21 (MLK4)",
        "MAP4K3": "MAP kinase kinase kinase kinase 3",
        "MAP4K5": "MAP kinase kinase kinase kinase 5",
        "MAPK1": "MAP kinase 1 (ERK2), the effector kinase of the RAS-RAF-MEK pathway",
        "MIDN": "midnolin",
        "NIT1": "nitrilase 1",
        "PLK4": "polo-like kinase 4, the regulator of centriole duplication",
        "PTPN12": "protein tyrosine phosphatase non-receptor type 12",
        "PTPN9": "protein tyrosine phosphatase non-receptor type 9",
        "RUNX1T1": "RUNX1 partner transcriptional co-repressor 1 (ETO)",
        "SAMD1": "SAM domain containing 1, a repressor binding unmethylated CpG islands",
        "SET": "SET, a histone chaperone and inhibitor of protein phosphatase 2A",
        "SGK1": "serum and glucocorticoid regulated kinase 1",
        "SLC38A2": "SLC38A2 (SNAT2), a sodium-coupled neutral amino acid transporter",
        "TBX3": "T-box transcription factor 3",
        "TGFBR2": "TGF-beta receptor type 2, the receptor kinase of TGF-beta signalling",
        "TMSB4X": "thymosin beta 4, an actin-sequestering protein",
        "ZBTB10": "zinc finger and BTB domain containing 10, a transcriptional repressor",
    }.items()
}


def kang2018_descriptions() -> dict[str, str]:
    """The description of the Kang 2018 stimulation (IFN-beta), keyed by its label.

    Returns
    -------
    ``{"stimulated": text}``.
    """
    return dict(_KANG2018)


def norman2019_descriptions() -> dict[str, str]:
    """Descriptions of the genes over-expressed by Norman et al. (2019), keyed by gene.

    Every single gene of :func:`norman2019_devel`, and more of the screen's genes.

    Returns
    -------
    ``{gene: "over-expression of ..."}``.
    """
    return dict(_NORMAN2019)


_DONG2023 = {
    "IFNb": (
        "interferon beta (IFN-beta), a type I interferon that induces interferon-stimulated "
        "genes through IFNAR, JAK1/TYK2 and STAT1/STAT2"
    ),
    "IFNa2": (
        "interferon alpha-2 (IFN-alpha2), a type I interferon that induces interferon-stimulated "
        "genes through IFNAR, JAK1/TYK2 and STAT1/STAT2"
    ),
    "IFNg": (
        "interferon gamma (IFN-gamma), the type II interferon that activates macrophages and "
        "MHC class II expression through IFNGR, JAK1/JAK2 and STAT1"
    ),
    "IFN-III": (
        "type III interferon (IFN-lambda), which induces interferon-stimulated genes through "
        "the IFNLR1/IL10RB receptor, mostly on epithelial and some immune cells"
    ),
    "IL-6": (
        "interleukin 6 (IL-6), a pro-inflammatory cytokine signalling through IL6R/gp130, "
        "JAK1 and STAT3"
    ),
    "TNFa": (
        "tumour necrosis factor alpha (TNF-alpha), a pro-inflammatory cytokine that activates "
        "NF-kappaB through TNFR1/TNFR2"
    ),
}


def dong2023_descriptions() -> dict[str, str]:
    """Descriptions of the cytokines of :func:`dong2023_cinemaot`, keyed by their labels.

    The pairs (``"IFNb+IFNg"`` ...) are described by their components.

    Returns
    -------
    ``{cytokine: text}`` for IFNb, IFNa2, IFNg, IFN-III, IL-6 and TNFa.
    """
    return dict(_DONG2023)
