"""Images on disk -> manifest -> findings -> split: scan, probe, validate and split a dataset."""
