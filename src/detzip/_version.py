"""detzip's version: one declaration, read by the top package and by whatever records it."""

__version__ = "0.1.0"
