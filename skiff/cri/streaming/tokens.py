"""The one-time tokens of streaming URLs, as the kubelet's request cache keeps them: a
request is stored under a random token for a minute, and the first use takes it."""

from __future__ import annotations

import base64
import os
import threading
import time

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

TTL = 60.0  # seconds a URL stays valid
MAX_PENDING = 1000  # requests kept at most: the oldest goes when more come


class RequestCache:
    """Thread-safe: the gRPC workers insert, the streaming server's loop consumes."""

    def __init__(self, ttl: float = TTL, clock: Any = time.monotonic) -> None:
        self.ttl = ttl
        self.clock = clock
        self.lock = threading.Lock()
        self.pending: dict[str, tuple[float, str, Any]] = {}

    def insert(self, kind: str, request: Any) -> str:
        token = base64.urlsafe_b64encode(os.urandom(12)).decode()
        with self.lock:
            now = self.clock()
            for old, (expires, _, _) in list(self.pending.items()):
                if expires <= now:
                    del self.pending[old]
            while len(self.pending) >= MAX_PENDING:
                del self.pending[next(iter(self.pending))]
            self.pending[token] = (now + self.ttl, kind, request)
        return token

    def consume(self, kind: str, token: str) -> Any | None:
        """The request stored under ``token`` for ``kind``, once; None if there is
        none, it expired, or it is of another kind."""
        with self.lock:
            entry = self.pending.get(token)
            if entry is None or entry[1] != kind:
                return None
            del self.pending[token]
        expires, _, request = entry
        return request if expires > self.clock() else None
