"""spotzee_loader: replay historical orders and actions into Spotzee with their original timestamps."""

__version__ = "0.1.0"
