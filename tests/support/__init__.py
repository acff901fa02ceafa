"""Test support: generated GroupID 9/10 installations (docs/generated-installations.md)."""
