"""Ingest: normalize API pages, store them exactly once, and the loop that drives a run."""
