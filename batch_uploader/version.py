"""The version, in one place: the package metadata reads it from here (pyproject.toml), and
`--version` prints it without importlib.metadata."""

__version__ = "0.1.0"
