"""Nightly reconciliation: prove that each downstream side effect happened exactly once."""
