"""Networks over CNI plugins: bridge networks, endpoints, published ports, name resolution
(docs/architecture.md, "Networking")."""
