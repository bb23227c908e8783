"""Compose: multi-container applications from compose files."""
