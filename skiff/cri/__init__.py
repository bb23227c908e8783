"""``skiff cri``: the Kubernetes Container Runtime Interface (CRI v1) over gRPC.

``server`` wires the two services onto a unix socket; ``runtime_service`` answers
RuntimeService (Version, Status, RuntimeConfig so far; every other call is UNIMPLEMENTED),
``image_service`` answers ImageService through skiff's own image store (skiff.images,
skiff.registry), so ``skiff images`` shows what the kubelet pulled. ``status`` maps skiff's
errors to gRPC status codes. The Python stubs are generated from skiff/data/cri-api-v1.proto
at install (``generate``) into ``skiff.cri.proto``.
"""
