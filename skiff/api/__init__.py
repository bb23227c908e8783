"""The Docker Engine API (``skiff serve``): compat handlers over skiff.engine."""
