"""Training output without third-party chatter: Lightning's banners and tips, ``v_num``."""

from __future__ import annotations

import contextlib
import logging
import warnings
from collections.abc import Iterator

from scvi.train._progress import ProgressBar

#: Loggers whose INFO messages (device banners, tips, "Trainer.fit stopped", scvi-tools'
#: "File ... already downloaded" when it loads a saved model) are not the package's to print;
#: their warnings still show.
LIBRARY_LOGGERS = ("lightning.pytorch", "lightning.fabric", "lightning", "scvi.data._download")

#: Third-party warnings that say nothing about the user's data or model.
LIBRARY_WARNINGS = (
    r".*LeafSpec.*",  # torch's pytree deprecation, raised inside Lightning
    r".*does not have many workers.*",  # the loaders hand out ready minibatches
    r".*is smaller than the logging interval.*",
    r".*early_stopping was automatically disabled due to the use of DDP.*",
)


@contextlib.contextmanager
def quiet_libraries() -> Iterator[None]:
    """Raise the library loggers to WARNING and hide :data:`LIBRARY_WARNINGS` meanwhile."""
    loggers = [logging.getLogger(name) for name in LIBRARY_LOGGERS]
    levels = [logger.level for logger in loggers]
    for logger in loggers:
        logger.setLevel(logging.WARNING)
    try:
        with warnings.catch_warnings():
            for message in LIBRARY_WARNINGS:
                warnings.filterwarnings("ignore", message=message)
            yield
    finally:
        for logger, level in zip(loggers, levels, strict=True):
            logger.setLevel(level)


class EpochProgressBar(ProgressBar):
    """scvi-tools' one-line progress bar of epochs, showing the losses but not ``v_num``."""

    def get_metrics(self, trainer, pl_module) -> dict:
        """The logged metrics shown after the bar, without the logger's version number."""
        metrics = super().get_metrics(trainer, pl_module)
        metrics.pop("v_num", None)
        return metrics
