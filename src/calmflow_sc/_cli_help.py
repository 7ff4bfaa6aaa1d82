"""The examples and descriptions of each ``calmflow-sc`` subcommand's help."""

DEMO_HELP = """\
Train CaLMFlowPerturb on the embedded simulated data, predict a held-out combination
(monocytes under IFNB+TNF) from monocyte control cells, write the predictions to an .h5ad
and compare them with the control and mean-shift baselines.

example:
  calmflow-sc demo --out calmflow_sc_demo/predictions.h5ad
"""


TRAIN_HELP = """\
Register a training file, train CaLMFlowPerturb on it and save the model to a directory.

examples:
  calmflow-sc train kang.h5ad --perturbation-key condition --control-value control \\
      --cell-type-key cell_type --out kang_model
  calmflow-sc train screen.h5mu --modality rna --perturbation-key guide --control-value NT \\
      --covariate-keys donor --accelerator gpu --devices 1 --out screen_model
"""

PREDICT_HELP = """\
Predict how the cells of QUERY respond to a perturbation, with a model saved by `train`.
From .h5ad to .h5ad the cells are streamed in blocks (memory does not grow with their number):
OUT holds the predicted expression in X, the cells' obs with the perturbation set to the one
predicted, and the principal-component coordinates in obsm["X_" + KEY]. With an .h5mu, the
predictions go to layers[KEY] and obsm["X_" + KEY] of a copy of QUERY.

example:
  calmflow-sc predict kang_model cd14_controls.h5ad --perturbation stimulated \\
      --key-added calmflow --out cd14_predicted.h5ad
"""

GENERATE_HELP = """\
Generate one cell per row of a CSV whose columns are the model's perturbation, cell-type and
covariate columns.

example:
  printf 'condition,cell_type\\nstimulated,B\\nstimulated,NK\\n' > conditions.csv
  calmflow-sc generate kang_model conditions.csv --out generated.h5ad
"""

EVALUATE_HELP = """\
Score predicted cells against observed perturbed and control cells (energy distance, MMD,
Wasserstein, Sinkhorn, R2 and Pearson delta, DE overlap) and write a tidy CSV.

example:
  calmflow-sc evaluate cd14_predicted.h5ad cd14_stimulated.h5ad cd14_controls.h5ad \\
      --pred-layer calmflow --out metrics.csv
"""
