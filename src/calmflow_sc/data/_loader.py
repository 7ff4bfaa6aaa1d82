"""Data loading for training: ready sequences from precomputed model-space states."""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
from scvi.dataloaders import DataSplitter
from scvi.dataloaders._samplers import BatchDistributedSampler
from torch.utils.data import BatchSampler, DataLoader, Dataset, RandomSampler, SequentialSampler

from ._sequences import SequenceBuilder


class SequenceDataset(Dataset):
    """Minibatches of training sequences; one item is a whole minibatch.

    Parameters
    ----------
    builder
        Builds the sequences of a minibatch of target cells.
    cells
        The target cells of this set.
    seed
        Seed of every random draw of a minibatch, making it the same at every epoch (for a
        validation loss that only the weights change); ``None`` draws from the global
        generator (training).
    """

    def __init__(self, builder: SequenceBuilder, cells: np.ndarray, seed: int | None = None):
        self.builder = builder
        self.cells = np.asarray(cells, dtype=np.int64)
        self.seed = seed

    def __len__(self) -> int:
        return len(self.cells)

    def __getitem__(self, positions: list[int]) -> dict[str, torch.Tensor]:
        positions = np.asarray(positions, dtype=np.int64)
        generator = None
        if self.seed is not None:
            generator = torch.Generator().manual_seed(self.seed + int(positions[0]))
        return self.builder(self.cells[positions], generator)


def sequence_loader(
    dataset: SequenceDataset,
    batch_size: int,
    shuffle: bool,
    drop_last: bool = False,
    distributed_sampler: bool = False,
) -> DataLoader:
    """A loader of whole minibatches (scvi-tools' batch samplers, no collation)."""
    if distributed_sampler:
        sampler = BatchDistributedSampler(
            dataset, batch_size=batch_size, drop_last=drop_last, shuffle=shuffle
        )
    else:
        order = RandomSampler(dataset) if shuffle else SequentialSampler(dataset)
        sampler = BatchSampler(order, batch_size=batch_size, drop_last=drop_last)
    return DataLoader(dataset, sampler=sampler, batch_size=None)


class SequenceDataSplitter(DataSplitter):
    """scvi-tools' data splitter, serving ready training sequences instead of AnnData rows.

    The split into training, validation and test cells is scvi-tools' (``external_indexing``,
    ``train_size``); each minibatch of target cells is turned into sequences by ``builder``
    (sources paired, paths drawn, trajectories packed), so the module receives tensors it only
    has to run. Validation minibatches are drawn with fixed seeds, so the validation loss moves
    only when the weights do.

    Parameters
    ----------
    adata_manager
        The model's :class:`~scvi.data.AnnDataManager`.
    builder
        Builds the sequences of a minibatch.
    validation_seed
        Seed of the validation minibatches.
    **kwargs
        Further arguments of :class:`scvi.dataloaders.DataSplitter` (``batch_size``,
        ``external_indexing``, ``distributed_sampler``, ...).
    """

    def __init__(
        self,
        adata_manager: Any,
        builder: SequenceBuilder,
        validation_seed: int = 0,
        **kwargs: Any,
    ):
        super().__init__(adata_manager, **kwargs)
        self.builder = builder
        self.validation_seed = int(validation_seed)
        self.batch_size = int(self.data_loader_kwargs.pop("batch_size", None) or 128)
        self.distributed_sampler = bool(self.data_loader_kwargs.pop("distributed_sampler", False))

    def _loader(self, cells: np.ndarray, training: bool) -> DataLoader:
        seed = None if training else self.validation_seed
        return sequence_loader(
            SequenceDataset(self.builder, cells, seed=seed),
            batch_size=self.batch_size,
            shuffle=training,
            drop_last=self.drop_last if training else False,
            distributed_sampler=self.distributed_sampler,
        )

    def train_dataloader(self) -> DataLoader:
        """Minibatches of the training cells, reshuffled and redrawn every epoch."""
        return self._loader(self.train_idx, training=True)

    def val_dataloader(self) -> DataLoader | list:
        """Minibatches of the validation cells, the same at every epoch (none: ``[]``)."""
        if len(self.val_idx) == 0:
            return []
        return self._loader(self.val_idx, training=False)

    def test_dataloader(self) -> DataLoader | list:
        """Minibatches of the test cells (none with the model's split: ``[]``)."""
        if len(self.test_idx) == 0:
            return []
        return self._loader(self.test_idx, training=False)
