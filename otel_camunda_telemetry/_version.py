"""The one place the package version lives (read by pyproject and the User-Agent)."""

__version__ = "0.1.0"
