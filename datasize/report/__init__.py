"""The report: plots, the report document read from a run folder, its HTML / Markdown / JSON rendering,
and the files a training command writes."""
