"""Benchmarks of ico-analytics: ``python -m bench`` (``make bench``) prints figures, never fails on
time. They are not part of the test run; results go to stdout and ``bench/results/latest.json``.
"""
