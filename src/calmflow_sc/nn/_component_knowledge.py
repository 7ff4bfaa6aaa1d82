"""What a model knows about perturbation components besides their measurements."""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from typing import Any

import numpy as np
import pandas as pd
import torch
from torch import nn

TextEncoder = Callable[[list[str]], torch.Tensor]


class UnknownComponentError(ValueError):
    """A perturbation component the model has neither measured nor been told about."""


def as_embedding_frame(embeddings: Mapping[str, Any] | pd.DataFrame) -> pd.DataFrame:
    """Check user-supplied component embeddings and return them as a float frame.

    Parameters
    ----------
    embeddings
        A mapping from component name to vector, or a frame indexed by component name with
        one column per dimension.

    Returns
    -------
    A ``float32`` frame indexed by component name (str).

    Raises
    ------
    TypeError, ValueError
        For anything that is not a table of finite numbers with unique, non-empty names.
    """
    if isinstance(embeddings, pd.DataFrame):
        frame = embeddings
    elif isinstance(embeddings, Mapping):
        lengths = {len(np.atleast_1d(np.asarray(v))) for v in embeddings.values()}
        if len(lengths) > 1:
            raise ValueError(
                f"perturbation_embeddings vectors have different lengths {sorted(lengths)}; "
                "give every component a vector of the same length."
            )
        frame = pd.DataFrame.from_dict(
            {k: np.atleast_1d(np.asarray(v)) for k, v in embeddings.items()}, orient="index"
        )
    else:
        raise TypeError(
            "perturbation_embeddings must be a mapping from component name to vector or a "
            f"DataFrame indexed by component name, got {type(embeddings).__name__}."
        )
    if frame.shape[0] == 0 or frame.shape[1] == 0:
        raise ValueError("perturbation_embeddings is empty.")
    names = frame.index.astype(str).str.strip()
    if (names == "").any():
        raise ValueError("perturbation_embeddings has an empty component name.")
    if names.duplicated().any():
        raise ValueError(
            f"perturbation_embeddings names {sorted(set(names[names.duplicated()]))[:5]} "
            "more than once."
        )
    try:
        values = frame.to_numpy(dtype=np.float64)
    except (TypeError, ValueError) as err:
        raise TypeError(f"perturbation_embeddings must hold numbers only ({err}).") from err
    bad = names[~np.isfinite(values).all(axis=1)]
    if len(bad):
        raise ValueError(f"perturbation_embeddings of {list(bad[:5])} are not all finite.")
    return pd.DataFrame(values.astype(np.float32), index=names)


def description_text(name: str, description: str) -> str:
    """The sentence a component's description is embedded from."""
    return f"{name}: {description}"


def _encode_descriptions(
    descriptions: Mapping[str, str] | None, encode_texts: Callable[[], TextEncoder] | None
) -> dict[str, torch.Tensor]:
    """Sentence embedding of each description, by component (the encoder loaded only if needed)."""
    if not descriptions:
        return {}
    texts = [description_text(k, v) for k, v in descriptions.items()]
    return dict(zip(descriptions, encode_texts()(texts).float(), strict=True))


class ComponentKnowledge(nn.Module):
    """A vector of prior knowledge for each named perturbation component.

    Each component gets the concatenation of up to two blocks: its user-supplied embedding
    (e.g. a gene embedding) and the sentence embedding of its description. Each block is
    centred and scaled by statistics of the components given with the first knowledge of its
    kind (when the model is built, or the first :meth:`add` of that kind to a model built
    without it), so that components added later are on the same scale; a component lacking a
    block gets zeros there (the average component). The vectors, names and statistics are
    buffers: they travel with the model's weights, so that a loaded model needs neither the
    embeddings nor the sentence encoder for the components it was given.

    Parameters
    ----------
    embedding_dim
        Length of the user-supplied embeddings (0 without).
    description_dim
        Length of the description embeddings (0 without descriptions).
    """

    def __init__(self, embedding_dim: int = 0, description_dim: int = 0):
        super().__init__()
        self.embedding_dim = int(embedding_dim)
        self.description_dim = int(description_dim)
        self.names: list[str] = []
        self._row_of: dict[str, int] = {}  # name -> row of ``vectors``, kept with ``names``
        self.register_buffer("vectors", torch.zeros(0, self.dim))
        self.register_buffer("centers", torch.zeros(self.dim))
        self.register_buffer("scales", torch.ones(2))
        self.register_buffer("encoded_names", torch.zeros(0, dtype=torch.uint8))
        self.register_buffer("block_dims", torch.tensor([self.embedding_dim, self.description_dim]))

    @property
    def dim(self) -> int:
        """Length of a component's vector."""
        return self.embedding_dim + self.description_dim

    def __len__(self) -> int:
        return len(self.names)

    def __contains__(self, name: object) -> bool:
        return name in self._row_of

    @classmethod
    def build(
        cls,
        descriptions: Mapping[str, str] | None = None,
        embeddings: pd.DataFrame | None = None,
        encode_texts: Callable[[], TextEncoder] | None = None,
    ) -> ComponentKnowledge:
        """Knowledge of every component that ``descriptions`` or ``embeddings`` name.

        Parameters
        ----------
        descriptions
            Free text per component, embedded by ``encode_texts()``.
        embeddings
            A frame from :func:`as_embedding_frame`.
        encode_texts
            Returns the sentence encoder (called only when there are descriptions).
        """
        knowledge = cls()
        knowledge.add(descriptions, embeddings, encode_texts)
        return knowledge

    def add(
        self,
        descriptions: Mapping[str, str] | None = None,
        embeddings: pd.DataFrame | None = None,
        encode_texts: Callable[[], TextEncoder] | None = None,
    ) -> list[str]:
        """Add (or replace) the knowledge of components; return their names.

        A kind of knowledge the model has none of yet (embeddings, descriptions) is accepted
        at any width, and its block is centred and scaled on the components given now; the
        components known before get zeros there. Later additions of that kind must have its
        width. Nothing changes when an argument is refused.

        Raises
        ------
        ValueError
            If the embeddings (or description embeddings) have another length than those
            the model already holds.
        """
        if embeddings is not None:
            self._check_width(0, embeddings.shape[1])
        encoded = _encode_descriptions(descriptions, encode_texts)
        blocks = []
        if embeddings is not None:
            blocks.append((0, torch.as_tensor(embeddings.to_numpy())))
        if encoded:
            blocks.append((1, torch.stack(list(encoded.values()))))
            self._check_width(1, blocks[-1][1].shape[1])
        if not blocks:
            return []
        with torch.no_grad():
            for which, values in blocks:
                if self._widths[which] == 0:
                    self._open_block(which, values)
            return self._add(encoded, embeddings)

    def _check_width(self, which: int, width: int) -> None:
        held = self._widths[which]
        if held and width != held:
            what = ("perturbation_embeddings", "description embeddings")[which]
            raise ValueError(
                f"{what} have {width} dimensions; this model's have {held} (the length of the "
                f"first it was given): give every component a vector of length {held}."
            )

    @property
    def _widths(self) -> tuple[int, int]:
        return self.embedding_dim, self.description_dim

    def _open_block(self, which: int, values: torch.Tensor) -> None:
        """Start the block ``which`` (0: embeddings, 1: descriptions) with the scale of ``values``."""
        center = values.mean(0)
        spread = (values - center).norm(dim=1).mean()
        width = values.shape[1]
        device = self.scales.device
        vectors, centers = self.vectors.detach().cpu(), self.centers.detach().cpu()
        scales = self.scales.detach().cpu().clone()
        pad = torch.zeros(len(vectors), width)
        if which == 0:
            vectors, centers = torch.cat([pad, vectors], 1), torch.cat([center, centers])
            self.embedding_dim = width
        else:
            vectors, centers = torch.cat([vectors, pad], 1), torch.cat([centers, center])
            self.description_dim = width
        scales[which] = spread if spread > 0 else 1.0
        self.vectors, self.centers, self.scales = (
            vectors.to(device),
            centers.to(device),
            scales.to(device),
        )
        self.block_dims = torch.tensor([self.embedding_dim, self.description_dim], device=device)

    def _add(self, encoded: dict[str, torch.Tensor], embeddings: pd.DataFrame | None) -> list[str]:
        names = list(
            dict.fromkeys([*(embeddings.index if embeddings is not None else []), *encoded])
        )
        row_of = self._row_of
        device = self.vectors.device
        vectors = self.vectors.detach().cpu()
        centers, scales = self.centers.detach().cpu(), self.scales.detach().cpu()
        new_rows = torch.zeros(len(names), self.dim)
        for i, name in enumerate(names):
            if name in row_of:  # keep the block not given now
                new_rows[i] = vectors[row_of[name]]
        e_dim = self.embedding_dim
        if embeddings is not None:
            raw = torch.as_tensor(embeddings.to_numpy())
            scaled = (raw - centers[:e_dim]) / scales[0]
            position = {name: i for i, name in enumerate(names)}
            for name, row in zip(embeddings.index, scaled, strict=True):
                new_rows[position[name], :e_dim] = row
        for i, name in enumerate(names):
            if name in encoded:
                new_rows[i, e_dim:] = (encoded[name] - centers[e_dim:]) / scales[1]
        replaced = set(names)
        kept = [row for name, row in row_of.items() if name not in replaced]
        order = [self.names[row] for row in kept] + names
        self.vectors = torch.cat([vectors[kept], new_rows]).to(device)
        self._set_names(order)
        return names

    def _index_names(self, names: list[str]) -> None:
        self.names = list(names)
        self._row_of = {name: row for row, name in enumerate(self.names)}

    def _set_names(self, names: list[str]) -> None:
        self._index_names(names)
        data = json.dumps(self.names).encode()
        self.encoded_names = torch.tensor(list(data), dtype=torch.uint8, device=self.scales.device)

    def lookup(self, names: list[str]) -> torch.Tensor:
        """The vectors of ``names``, ``(len(names), dim)``.

        Raises
        ------
        UnknownComponentError
            If a name has no knowledge.
        """
        row_of = self._row_of
        missing = [name for name in names if name not in row_of]
        if missing:
            raise UnknownComponentError(f"No knowledge of {missing}.")
        index = torch.as_tensor([row_of[name] for name in names], dtype=torch.long)
        return self.vectors.detach().cpu()[index]

    def _load_from_state_dict(self, state_dict, prefix, *args, **kwargs) -> None:
        # the number of components is the save's, not the freshly built module's
        for name in ("vectors", "centers", "encoded_names"):
            key = prefix + name
            if key in state_dict:
                setattr(self, name, torch.empty_like(state_dict[key], device=self.centers.device))
        super()._load_from_state_dict(state_dict, prefix, *args, **kwargs)
        data = bytes(self.encoded_names.cpu().tolist())
        self._index_names(json.loads(data.decode()) if data else [])
        self.embedding_dim, self.description_dim = (int(d) for d in self.block_dims)

    @classmethod
    def from_state_dict(cls, state: Mapping[str, torch.Tensor], prefix: str) -> ComponentKnowledge:
        """Rebuild saved knowledge from the tensors under ``prefix`` of a state dict."""
        knowledge = cls()
        knowledge.load_state_dict(
            {k[len(prefix) :]: v for k, v in state.items() if k.startswith(prefix)}
        )
        return knowledge
