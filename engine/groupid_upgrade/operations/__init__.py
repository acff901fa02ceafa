"""Typed operations with prepare and commit, and the one executor that walks them (docs/decisions.md)."""
