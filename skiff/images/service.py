"""The image store: images, their tags and layers, over the content store and layer dirs.

Every image operation that adds content takes a *lease* on each blob and layer directory
it writes, so a failure, or a concurrent removal, can tell content in use from garbage:
``release`` of a failed operation's lease deletes exactly what nobody references.
"""

from __future__ import annotations

import _thread
import os
import time

from skiff import db
from skiff.errors import Conflict, InvalidArgument, NotFound
from skiff.images import digest as digests
from skiff.images import manifest as manifests
from skiff.images import mediatypes as mt
from skiff.images import reference as references
from skiff.images.store import ContentStore
from skiff.linux.proc import owner_alive, owner_tag
from skiff.paths import Paths
from skiff.storage.layers import LayerDirs, directory_name

TYPE_CHECKING = False
if TYPE_CHECKING:
    import sqlite3
    from collections.abc import Callable, Sequence
    from typing import Any


class LayerRecord:
    """A layer of an image being registered."""

    __slots__ = ("blob", "diff_id", "diff_size", "media_type", "size")

    def __init__(self, diff_id: str, blob: str, media_type: str, size: int, diff_size: int) -> None:
        self.diff_id = diff_id
        self.blob = blob  # the layer as stored in the content store
        self.media_type = media_type
        self.size = size  # bytes on disk unpacked
        self.diff_size = diff_size  # bytes of the uncompressed tar


class Image:
    """An image as the store knows it."""

    def __init__(self, store: ImageStore, row: sqlite3.Row) -> None:
        self.store = store
        self.id: str = row["id"]
        self.created: str = row["created"]
        self.added: float = row["added"]
        self.size: int = row["size"]
        self._config: dict[str, Any] | None = None

    @property
    def short_id(self) -> str:
        return digests.hex_of(self.id)[:12]

    @property
    def config_bytes(self) -> bytes:
        return self.store.content.read(self.id)

    @property
    def config(self) -> dict[str, Any]:
        if self._config is None:
            self._config = manifests.parse_config(self.config_bytes)
        return self._config

    @property
    def tags(self) -> list[str]:
        return self.store.tags_of(self.id)

    @property
    def repo_digests(self) -> list[str]:
        rows = self.store.db.execute(
            "SELECT name FROM repo_digests WHERE image_id = ? ORDER BY name", (self.id,)
        )
        return [r["name"] for r in rows]

    def layers(self) -> list[sqlite3.Row]:
        return list(
            self.store.db.execute(
                "SELECT layers.* FROM image_layers JOIN layers USING (chain_id)"
                " WHERE image_id = ? ORDER BY position",
                (self.id,),
            )
        )


class ImageStore:
    def __init__(self, paths: Paths) -> None:
        self.paths = paths
        self.content = ContentStore(paths)
        self.layer_dirs = LayerDirs(paths)
        self.db = db.connect(paths.database)
        self._hold_lock = _thread.allocate_lock()  # threading.Lock, without its import

    # --- leases -------------------------------------------------------------------------

    def lease(self) -> str:
        """A new lease, named after this process: a killed command's leases end when a
        garbage collection finds their process gone."""
        return f"{owner_tag()}-{os.urandom(8).hex()}"

    def hold(self, lease: str, item: str) -> None:
        """Mark a blob digest or a layer directory name as in use by ``lease`` (from any
        thread; call it before the content appears, so a collection never takes it)."""
        with self._hold_lock:
            self.db.execute("INSERT OR IGNORE INTO leases VALUES (?, ?)", (lease, item))

    def release(self, lease: str) -> None:
        """End a lease; whatever it held that nothing references is deleted."""
        with db.transaction(self.db):
            items = [
                r["digest"]
                for r in self.db.execute("SELECT digest FROM leases WHERE lease = ?", (lease,))
            ]
            self.db.execute("DELETE FROM leases WHERE lease = ?", (lease,))
            doomed = [item for item in items if not self._referenced(item)]
        self._delete(doomed)

    def _referenced(self, item: str) -> bool:
        if self.db.execute("SELECT 1 FROM leases WHERE digest = ?", (item,)).fetchone():
            return True
        if ":" in item:
            return bool(
                self.db.execute("SELECT 1 FROM images WHERE id = ?", (item,)).fetchone()
                or self.db.execute("SELECT 1 FROM layers WHERE blob = ?", (item,)).fetchone()
                or self.db.execute(
                    "SELECT 1 FROM compressed_layers WHERE blob = ?", (item,)
                ).fetchone()
                or self.db.execute(
                    "SELECT 1 FROM image_manifests WHERE digest = ?", (item,)
                ).fetchone()
            )
        return bool(self.db.execute("SELECT 1 FROM layers WHERE directory = ?", (item,)).fetchone())

    def _delete(self, items: list[str]) -> None:
        for item in items:
            if ":" in item:
                self.content.delete(item)
            else:
                self.layer_dirs.remove(item)

    # --- layers -------------------------------------------------------------------------

    def layer_known(self, chain_id: str) -> bool:
        return bool(
            self.db.execute("SELECT 1 FROM layers WHERE chain_id = ?", (chain_id,)).fetchone()
        )

    def unpack_layer(self, lease: str, chain_id: str, unpack: Callable[[str], None]) -> int:
        """Unpack a layer (``unpack(diff_dir)``) unless its directory exists; its size."""
        name = directory_name(chain_id)
        self.hold(lease, name)
        if self.layer_dirs.exists(name):
            return self.layer_dirs.disk_usage(name)
        staging = self.layer_dirs.staging()
        try:
            unpack(os.path.join(staging, "diff"))
        except BaseException:
            self.layer_dirs.discard(staging)
            raise
        size = self.layer_dirs.disk_usage(os.path.basename(staging))
        self.layer_dirs.publish(staging, name)
        return size

    def compressed_blob(self, lease: str, layer: sqlite3.Row) -> tuple[str, str]:
        """A layer's blob as a registry wants it (digest, media type): as stored if it is
        compressed, else gzip-compressed once and kept for the next push (Docker compresses
        again on each push)."""
        if mt.layer_compression(layer["media_type"]) != "none":
            return layer["blob"], layer["media_type"]
        row = self.db.execute(
            "SELECT blob, media_type FROM compressed_layers WHERE diff_id = ?",
            (layer["diff_id"],),
        ).fetchone()
        if row is not None and self.content.exists(row["blob"]):
            self.hold(lease, row["blob"])
            return row["blob"], row["media_type"]
        from skiff.images.compression import gzip_into

        with self.content.open(layer["blob"]) as source, self.content.writer() as writer:
            gzip_into(source, writer)
            blob = writer.commit(lambda digest: self.hold(lease, digest))[0]
        with db.transaction(self.db):
            self.db.execute(
                "INSERT OR REPLACE INTO compressed_layers VALUES (?, ?, ?)",
                (layer["diff_id"], blob, mt.DOCKER_LAYER_GZIP),
            )
        return blob, mt.DOCKER_LAYER_GZIP

    # --- images -------------------------------------------------------------------------

    def register(
        self,
        config: bytes,
        layers: list[LayerRecord],
        tags: Sequence[str] = (),
        repo_digests: Sequence[str] = (),
        manifest_digests: Sequence[str] = (),
    ) -> str:
        """Record an image whose config and layers are in place (held by a lease); its ID.

        Tags move to the new image, as ``docker load`` and ``docker tag`` do.
        """
        parsed = manifests.parse_config(config)
        diff_ids = parsed["rootfs"]["diff_ids"]
        if [layer.diff_id for layer in layers] != diff_ids:
            raise InvalidArgument("image config: rootfs.diff_ids do not match the layers")
        image_id = digests.of_bytes(config)
        chains = digests.chain_ids(diff_ids)
        with db.transaction(self.db):
            for i, (layer, chain) in enumerate(zip(layers, chains, strict=True)):
                self.db.execute(
                    "INSERT OR IGNORE INTO layers VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                    (chain, layer.diff_id, chains[i - 1] if i else None, layer.blob,
                     layer.media_type, directory_name(chain), layer.size, layer.diff_size),
                )  # fmt: skip
            size = sum(layer.size for layer in layers)
            self.db.execute(
                "INSERT OR IGNORE INTO images VALUES (?, ?, ?, ?)",
                (image_id, parsed.get("created") or "", time.time(), size),
            )
            for position, chain in enumerate(chains):
                self.db.execute(
                    "INSERT OR IGNORE INTO image_layers VALUES (?, ?, ?)",
                    (image_id, position, chain),
                )
            self._name(image_id, tags, repo_digests)
            for digest in manifest_digests:
                self.db.execute(
                    "INSERT OR IGNORE INTO image_manifests VALUES (?, ?)", (image_id, digest)
                )
        return image_id

    def add_names(
        self,
        image_id: str,
        tags: Sequence[str] = (),
        repo_digests: Sequence[str] = (),
        manifest_digests: Sequence[str] = (),
    ) -> None:
        """Tags (moved here from any other image), repository digests and manifests (in
        the content store) of an image."""
        with db.transaction(self.db):
            self._name(image_id, tags, repo_digests)
            for digest in manifest_digests:
                self.db.execute(
                    "INSERT OR IGNORE INTO image_manifests VALUES (?, ?)", (image_id, digest)
                )

    def _name(self, image_id: str, tags: Sequence[str], repo_digests: Sequence[str]) -> None:
        for tag in tags:
            self.db.execute("INSERT OR REPLACE INTO tags VALUES (?, ?)", (tag, image_id))
        for name in repo_digests:
            self.db.execute("INSERT OR REPLACE INTO repo_digests VALUES (?, ?)", (name, image_id))

    def images(self) -> list[Image]:
        rows = self.db.execute("SELECT * FROM images ORDER BY added DESC")
        return [Image(self, row) for row in rows]

    def tags_of(self, image_id: str) -> list[str]:
        rows = self.db.execute(
            "SELECT name FROM tags WHERE image_id = ? ORDER BY name", (image_id,)
        )
        return [r["name"] for r in rows]

    def tags_in(self, name: str) -> list[str]:
        """The tags of repository ``name`` (``docker.io/library/busybox``)."""
        prefix = name + ":"
        rows = self.db.execute(
            "SELECT name FROM tags WHERE substr(name, 1, ?) = ? ORDER BY name",
            (len(prefix), prefix),
        )
        return [r["name"] for r in rows]

    def get(self, text: str) -> Image:
        """An image by reference, or by ID or ID prefix, resolved as Docker does: a full ID
        is only an ID; anything else is looked up as a reference first."""
        row = None
        if not references.is_full_id(text):
            try:
                ref = references.parse(text)
            except InvalidArgument:
                ref = None
            if ref is not None:
                table = "repo_digests" if ref.digest else "tags"
                key = f"{ref.name}@{ref.digest}" if ref.digest else str(ref)
                query = f"SELECT images.* FROM {table} JOIN images ON images.id = image_id"
                row = self.db.execute(query + " WHERE name = ?", (key,)).fetchone()
        if row is None and references.is_digest_id(text):
            prefix = "sha256:" + text.removeprefix("sha256:")
            rows = list(self.db.execute("SELECT * FROM images WHERE id LIKE ?", (prefix + "%",)))
            if len(rows) > 1:
                raise Conflict(f"image ID {text!r} is ambiguous")
            row = rows[0] if rows else None
        if row is None:
            raise NotFound(f"No such image: {text}")
        return Image(self, row)

    def tag(self, source: str, target: str) -> None:
        image = self.get(source)
        ref = references.parse(target)
        if ref.digest:
            raise InvalidArgument(f"refusing to create a tag with a digest reference: {target}")
        with db.transaction(self.db):
            self.db.execute("INSERT OR REPLACE INTO tags VALUES (?, ?)", (str(ref), image.id))

    def untag(self, name: str) -> str | None:
        """Remove one tag (or repo digest); the image it pointed to."""
        ref = references.parse(name)
        table, key = (
            ("repo_digests", f"{ref.name}@{ref.digest}") if ref.digest else ("tags", str(ref))
        )
        with db.transaction(self.db):
            row = self.db.execute(f"SELECT image_id FROM {table} WHERE name = ?", (key,)).fetchone()
            if row is None:
                return None
            self.db.execute(f"DELETE FROM {table} WHERE name = ?", (key,))
        return str(row["image_id"])

    def delete_image(self, image_id: str) -> None:
        """Forget an image and delete what only it used."""
        with db.transaction(self.db):
            self.db.execute("DELETE FROM images WHERE id = ?", (image_id,))
        self.collect_garbage()

    def clean_abandoned(self) -> None:
        """Delete the temporary files and directories of commands that were killed."""
        self.content.clean_abandoned()
        self.layer_dirs.clean_abandoned()

    def collect_garbage(self) -> int:
        """Delete layers no image uses and blobs nothing references, and what killed
        commands left; bytes freed."""
        self.clean_abandoned()
        with db.transaction(self.db):
            for row in list(self.db.execute("SELECT DISTINCT lease FROM leases")):
                if not owner_alive(row["lease"].rpartition("-")[0]):
                    self.db.execute("DELETE FROM leases WHERE lease = ?", (row["lease"],))
            unused = [
                (r["chain_id"], r["directory"], r["blob"])
                for r in self.db.execute(
                    "SELECT * FROM layers WHERE chain_id NOT IN (SELECT chain_id FROM image_layers)"
                )
            ]
            for chain, _, _ in unused:
                self.db.execute("DELETE FROM layers WHERE chain_id = ?", (chain,))
            self.db.execute(
                "DELETE FROM compressed_layers WHERE diff_id NOT IN (SELECT diff_id FROM layers)"
            )
            referenced: set[str] = set()
            for query in (
                "SELECT id AS d FROM images",
                "SELECT blob AS d FROM layers",
                "SELECT blob AS d FROM compressed_layers",
                "SELECT digest AS d FROM image_manifests",
                "SELECT digest AS d FROM leases",
            ):
                referenced.update(r["d"] for r in self.db.execute(query))
            directories = {r["directory"] for r in self.db.execute("SELECT directory FROM layers")}
            directories.update(referenced)
            blobs = [d for d in self.content.digests() if d not in referenced]
            dirs = [
                name
                for name in (
                    os.listdir(self.layer_dirs.root) if os.path.isdir(self.layer_dirs.root) else []
                )
                if not name.startswith(".") and name not in directories
            ]
        freed = sum(os.stat(self.content.path(d)).st_blocks * 512 for d in blobs)
        freed += sum(self.layer_dirs.disk_usage(name) for name in dirs)
        self._delete(blobs + dirs)
        return freed

    def stored_manifest(self, image: Image) -> tuple[str, bytes] | None:
        """A manifest the image came with (pulled, loaded, pushed) whose blobs are all in
        the content store: its digest and bytes."""
        rows = self.db.execute(
            "SELECT digest FROM image_manifests WHERE image_id = ? ORDER BY digest", (image.id,)
        )
        for row in list(rows):
            if not self.content.exists(row["digest"]):
                continue
            data = self.content.read(row["digest"])
            manifest = manifests.parse_manifest(data)
            if all(self.content.exists(d["digest"]) for d in manifest["layers"]):
                return row["digest"], data
        return None

    def prune_downloads(self) -> int:
        """Delete the partial downloads no pull is working on (a failed pull keeps its
        bytes for the next to resume); bytes freed."""
        import fcntl

        freed = 0
        directory = self.paths.downloads
        for name in os.listdir(directory) if os.path.isdir(directory) else []:
            path = os.path.join(directory, name)
            fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                freed += os.fstat(fd).st_blocks * 512
                os.unlink(path)  # under the lock: a pull that waited for it opens anew
            except BlockingIOError:
                continue  # a pull is fetching it
            finally:
                os.close(fd)
        return freed

    def parent_of(self, image_id: str) -> str | None:
        """The image ``image_id`` was committed or built on (Docker's Parent), if known."""
        row = self.db.execute(
            "SELECT parent FROM image_parents WHERE image_id = ?", (image_id,)
        ).fetchone()
        return None if row is None else str(row["parent"])

    def parents(self) -> dict[str, str]:
        """Each image's parent, for the images that have one (one query for a listing)."""
        rows = self.db.execute("SELECT image_id, parent FROM image_parents")
        return {r["image_id"]: r["parent"] for r in rows}

    def with_children(self) -> set[str]:
        """The images others were committed or built on."""
        return set(self.parents().values())

    def is_dangling(self, image: Image) -> bool:
        return not image.tags and not image.repo_digests
