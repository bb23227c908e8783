"""CRI ImageService through skiff's own image store (skiff.images, skiff.registry), so
``skiff images`` shows what the kubelet pulled, and ``skiff rmi`` what it may remove.

As containerd's CRI plugin: an image is known by its ID (the config's digest,
``sha256:...``), which PullImage returns as ``image_ref``; a name the store does not know
is an empty ImageStatus, not an error; RemoveImage of a missing image succeeds; names are
the store's full references (``docker.io/library/busybox:latest``)."""

from __future__ import annotations

import os
import threading
import time

import skiff.cri.proto.api_pb2 as api_pb2
import skiff.cri.proto.api_pb2_grpc as api_pb2_grpc
from skiff.cri import auth as cri_auth
from skiff.cri.status import answers
from skiff.errors import InvalidArgument, NotFound
from skiff.jsonio import dumps

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

    import grpc

    from skiff.images.service import Image, ImageStore
    from skiff.paths import Paths


class ImageService(api_pb2_grpc.ImageServiceServicer):
    def __init__(self, paths: Paths) -> None:
        self.paths = paths
        self._local = threading.local()  # a store (its database connection) per thread

    def store(self) -> ImageStore:
        store: ImageStore | None = getattr(self._local, "store", None)
        if store is None:
            from skiff.images.service import ImageStore

            store = self._local.store = ImageStore(self.paths)
        return store

    def resolve(self, name: str) -> Image | None:
        """The image a CRI image spec names (a reference, an ID or an ID prefix), or None:
        a name that does not parse names no image, as in containerd's LocalResolve."""
        from skiff.images.inspect import find_image

        if not name:
            raise InvalidArgument("image spec has no image")
        try:
            return find_image(self.store(), name)
        except (NotFound, InvalidArgument):
            return None

    @answers
    def ListImages(self, request: Any, context: grpc.ServicerContext) -> Any:
        wanted = request.filter.image.image if request.HasField("filter") else ""
        if wanted:
            image = self.resolve(wanted)
            images = [image] if image is not None else []
        else:
            images = visible_images(self.store())
        return api_pb2.ListImagesResponse(images=[image_message(i) for i in images])

    @answers
    def ImageStatus(self, request: Any, context: grpc.ServicerContext) -> Any:
        image = self.resolve(request.image.image)
        if image is None:
            return api_pb2.ImageStatusResponse()
        info = {}
        if request.verbose:
            info["info"] = dumps(
                {
                    "id": image.id,
                    "chainIDs": [layer["chain_id"] for layer in image.layers()],
                    "size": image.size,
                    "imageSpec": image.config,
                }
            )
        return api_pb2.ImageStatusResponse(image=image_message(image), info=info)

    @answers
    def PullImage(self, request: Any, context: grpc.ServicerContext) -> Any:
        from skiff.images import reference
        from skiff.registry.pull import pull

        name = request.image.image
        if not name:
            raise InvalidArgument("image spec has no image")
        ref = reference.parse(name)
        creds = cri_auth.credentials(request.auth if request.HasField("auth") else None, ref.domain)
        pulled = pull(self.store(), ref, credentials=creds)
        return api_pb2.PullImageResponse(image_ref=pulled.image_id)

    @answers
    def RemoveImage(self, request: Any, context: grpc.ServicerContext) -> Any:
        from skiff.images.remove import remove_image

        image = self.resolve(request.image.image)
        if image is not None:
            try:
                # every name of the image goes, as containerd removes them; an image a
                # container uses keeps its layers until that container goes
                remove_image(self.store(), image.id, True, self._containers_using)
            except NotFound:
                pass  # removed meanwhile: the CRI asks for idempotence
        return api_pb2.RemoveImageResponse()

    def _containers_using(self, image_id: str) -> list[str]:
        from skiff.engine.containers import ContainerStore

        return [c.id for c in ContainerStore(self.paths).using_image(image_id)]

    @answers
    def ImageFsInfo(self, request: Any, context: grpc.ServicerContext) -> Any:
        self.store()  # the store's directories exist: the kubelet stats the mountpoint
        os.makedirs(self.paths.layers, exist_ok=True)
        used, inodes = usage([self.paths.layers, self.paths.blobs])
        filesystem = api_pb2.FilesystemUsage(
            timestamp=time.time_ns(),
            fs_id=api_pb2.FilesystemIdentifier(mountpoint=self.paths.layers),
            used_bytes=api_pb2.UInt64Value(value=used),
            inodes_used=api_pb2.UInt64Value(value=inodes),
        )
        return api_pb2.ImageFsInfoResponse(image_filesystems=[filesystem])


def visible_images(store: ImageStore) -> list[Image]:
    """The store's images without a build's intermediate ones (no name, and a child), as
    ``skiff images`` shows them: those go with the image built."""
    with_children = store.with_children()
    return [
        image
        for image in store.images()
        if image.id not in with_children or image.tags or image.repo_digests
    ]


def image_message(image: Image) -> Any:
    """A CRI Image: ID, names, size, and the config's user (a number as ``uid``, a name as
    ``username``, as containerd splits it)."""
    user = str((image.config.get("config") or {}).get("User") or "").split(":", 1)[0]
    message = api_pb2.Image(
        id=image.id,
        repo_tags=image.tags,
        repo_digests=image.repo_digests,
        size=image.size,
        spec=api_pb2.ImageSpec(image=image.id),
    )
    if user.isdigit():
        message.uid.value = int(user)
    elif user:
        message.username = user
    return message


def usage(directories: list[str]) -> tuple[int, int]:
    """Bytes (allocated blocks) and inodes under ``directories``, each inode once."""
    seen: set[tuple[int, int]] = set()
    used = 0
    pending = [d for d in directories if os.path.isdir(d)]
    for directory in pending:
        try:
            st = os.lstat(directory)
        except OSError:
            continue
        if (st.st_dev, st.st_ino) not in seen:
            seen.add((st.st_dev, st.st_ino))
            used += st.st_blocks * 512
    while pending:
        directory = pending.pop()
        try:
            entries = list(os.scandir(directory))
        except OSError:
            continue
        for entry in entries:
            try:
                st = entry.stat(follow_symlinks=False)
            except OSError:
                continue
            key = (st.st_dev, st.st_ino)
            if key in seen:
                continue
            seen.add(key)
            used += st.st_blocks * 512
            if entry.is_dir(follow_symlinks=False):
                pending.append(entry.path)
    return used, len(seen)
