"""Multi-process training through Lightning's DDP (gloo on CPU), as on several GPUs."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np

from calmflow_sc import CaLMFlowPerturb
from helpers import gen_adata

SCRIPT = textwrap.dedent(
    """
    import os
    import sys

    import torch

    sys.path.insert(0, {tests!r})
    from helpers import TINY_MODEL, gen_adata, setup

    from calmflow_sc import CaLMFlowPerturb

    out = sys.argv[1]
    adata = gen_adata(n_cells=480)
    setup(adata)
    torch.manual_seed(0)
    model = CaLMFlowPerturb(adata, **TINY_MODEL)
    model.train(
        max_epochs=2, accelerator="cpu", devices=2, strategy="ddp", enable_progress_bar=False
    )
    rank = int(os.environ.get("LOCAL_RANK", 0))
    weights = torch.cat([p.detach().flatten() for p in model.module.parameters()])
    torch.save(weights, os.path.join(out, f"weights_rank{{rank}}.pt"))
    if rank == 0:
        model.save(os.path.join(out, "model"))
    """
)


def test_two_process_ddp_trains_one_model_that_predicts(tmp_path):
    import torch

    script = tmp_path / "train_ddp.py"
    script.write_text(SCRIPT.format(tests=str(Path(__file__).parents[1])))
    result = subprocess.run(
        [sys.executable, str(script), str(tmp_path)],
        capture_output=True,
        text=True,
        timeout=600,
        env={**os.environ, "OMP_NUM_THREADS": "1"},
    )
    assert result.returncode == 0, result.stderr[-3000:]
    # two processes ran (each wrote its weights), and gradients were synchronised: both end
    # with the same weights
    assert (tmp_path / "weights_rank1.pt").is_file()
    first, second = (torch.load(tmp_path / f"weights_rank{r}.pt") for r in (0, 1))
    torch.testing.assert_close(first, second)
    adata = gen_adata(n_cells=480)
    model = CaLMFlowPerturb.load(tmp_path / "model", adata=adata)
    assert model.is_trained_ and len(model.history_["elbo_train"]) == 2
    controls = adata[adata.obs["condition"] == "control"].copy()
    assert np.isfinite(model.predict(controls, "IFNB", inplace=False).X).all()
