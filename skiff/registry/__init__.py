"""Registries: the OCI distribution protocol as Docker speaks it (pull, login, logout)."""
