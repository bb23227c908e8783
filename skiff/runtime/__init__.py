"""The OCI runtime: an OCI bundle (config.json + rootfs) becomes an isolated process."""
