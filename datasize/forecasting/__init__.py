"""Runs -> fitted curve families, backtest, bootstrap, estimates, per-class ranking, the Forecast."""
