"""The training shell around the library: training and evaluation runs, MLflow tracking and registry, the pyfunc,
plots, the team leads' feedback merged into training data, and the `train`, `evaluate`, `promote` and `init`
commands. MLflow and matplotlib come with the `train` extra (`pip install 'complaint-triage[train]'`)."""
