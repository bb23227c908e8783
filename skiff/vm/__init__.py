"""skiff-vm: an OCI runtime that boots a bundle in a QEMU virtual machine instead of
isolating a process with namespaces (docs/architecture.md, "The VM runtime")."""
