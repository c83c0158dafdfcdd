"""Metrics of predicted frames (docs/metrics.md): the metric contract, frame metrics, the papers' conventions and forecasters' event scores."""
