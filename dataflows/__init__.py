"""Bytewax dataflows: sources, operators and sinks of the ico-analytics pipeline."""
