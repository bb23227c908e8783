"""Containers: options and an image config become an OCI bundle, run under a monitor."""
