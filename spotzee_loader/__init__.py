"""spotzee_loader: replay historical orders and actions into Spotzee with their original timestamps."""

__version__ = "0.2.0"
"""Moves with CHANGELOG.md (its newest entry names it); pyproject.toml reads it from here."""
