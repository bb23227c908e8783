"""The CRI v1 stubs, generated from skiff/data/cri-api-v1.proto by ``make install``
(``python -m skiff.cri.generate``): ``api_pb2`` (the messages) and ``api_pb2_grpc`` (the
services). The generated modules are not in git (.gitignore)."""
