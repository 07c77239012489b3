"""unitledger: meter, enforce and attribute licensed capacity used by extensions."""

__version__ = "0.1.0"

__all__ = ["__version__"]
