"""The alerting rules, built from Python (`python -m alerts.build`), and their one thresholds file."""
