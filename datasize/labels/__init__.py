"""Every label checked: K-fold out-of-fold predictions, confident learning (cleanlab), the suspected label
errors and noise rates, and the run folder that keeps each fold as it finishes."""
