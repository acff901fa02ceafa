"""GroupIDUpgrade engine: upgrades GroupID 9/10 to 11, upgrades groups, backs up and restores."""

__version__ = "0.1.0"  # the one source: pyproject.toml reads it, CHANGELOG.md and powershell/*.psd1 match it
PROTOCOL_VERSION = 1
