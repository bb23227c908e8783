"""Images: references, the content store, manifests, layers, archives."""
