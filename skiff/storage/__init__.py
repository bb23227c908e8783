"""Storage: layers unpacked once per chain, overlay snapshots for containers."""
