"""The CRI's streaming server: Exec, Attach and PortForward answer with its URLs, where
clients speak Kubernetes' remote-command and port-forward protocols over WebSocket or
SPDY/3.1."""

from skiff.cri.streaming.server import StreamingServer

__all__ = ["StreamingServer"]
