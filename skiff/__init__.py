"""skiff: a container engine in Python."""

__version__ = "0.1.0"
