"""``skiff build``: a Dockerfile and a context become an image, as Docker's classic
builder makes it.

Every instruction is a step that commits an image on top of the one before (an
intermediate image, untagged, with the step's history entry): RUN, COPY, ADD and WORKDIR
with a layer of what they changed (none when they changed nothing), the others with the
config alone (``empty_layer``). A step's image is found again in the cache by the image
it started from and the step's key: its history line, the run config it leaves and, for
COPY and ADD, the content of its sources; so a rebuild of what did not change runs
nothing. Stages are built in order up to ``--target``; only the last one's image is
tagged, and only once every step succeeded. Output is the classic builder's ("Step 2/5 :
RUN ...", " ---> Using cache", "Successfully built ...").
"""

from __future__ import annotations

import time
from contextlib import ExitStack

from skiff import __version__, jsonio
from skiff.build.instructions import FileChange, Step, StepError, dispatch
from skiff.build.stage import Stage
from skiff.errors import InvalidArgument, NotFound
from skiff.images.digest import sha256

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable
    from typing import Any

    from skiff.build.context import BuildContext
    from skiff.build.dockerfile import Instruction
    from skiff.build.words import Lexer
    from skiff.engine.engine import Engine
    from skiff.images.service import ImageStore

    Say = Callable[[str], None]


class BuildOptions:
    """What ``docker build`` takes (its flags, POST /build's query)."""

    def __init__(
        self,
        *,
        dockerfile: str = "Dockerfile",
        tags: list[str] | None = None,
        build_args: dict[str, str | None] | None = None,
        target: str = "",
        no_cache: bool = False,
        pull: bool = False,
        labels: dict[str, str] | None = None,
        network: str = "",
        platform: str = "",
        quiet: bool = False,
    ) -> None:
        self.dockerfile = dockerfile
        self.tags = list(tags or [])
        self.build_args = dict(build_args or {})
        self.target = target
        self.no_cache = no_cache
        self.pull = pull
        self.labels = dict(labels or {})
        self.network = network
        self.platform = platform
        self.quiet = quiet


class _Stages:
    """The Dockerfile split into its global ARGs and its stages (FROM onwards)."""

    def __init__(self, instructions: list[Instruction], target: str) -> None:
        self.global_args: list[Instruction] = []
        self.stages: list[list[Instruction]] = []
        for instruction in instructions:
            if instruction.keyword == "FROM":
                self.stages.append([instruction])
            elif self.stages:
                self.stages[-1].append(instruction)
            elif instruction.keyword == "ARG":
                self.global_args.append(instruction)
            else:
                raise StepError(
                    "Please provide a source image with `from` prior to commit"
                    if instruction.keyword != "ONBUILD"
                    else "ONBUILD is not allowed before FROM"
                )
        if not self.stages:
            raise InvalidArgument("No build stage in current context")
        self.names = [_stage_name(stage[0]) for stage in self.stages]
        if target:
            if target.lower() not in self.names:
                raise InvalidArgument(f"failed to reach build target {target} in Dockerfile")
            self.stages = self.stages[: self.names.index(target.lower()) + 1]

    def count(self) -> int:
        return len(self.global_args) + sum(len(stage) for stage in self.stages)


def _stage_name(instruction: Instruction) -> str:
    args = instruction.args
    if len(args) == 3 and args[1].lower() == "as":
        return args[2].lower()
    if len(args) != 1:
        raise StepError("FROM requires either one or three arguments")
    return ""


class Builder:
    def __init__(
        self,
        store: ImageStore,
        engine: Callable[[], Engine],
        context: BuildContext,
        options: BuildOptions,
        say: Say,
        on_stage: Callable[[str], None] | None = None,
        cancelled: Callable[[], bool] = lambda: False,
    ) -> None:
        self.store = store
        self.paths = store.paths
        self.engine = engine  # for RUN steps: only a build that runs one needs the engine
        self.context = context
        self.options = options
        self.say = say
        self.on_stage = on_stage
        self.cancelled = cancelled
        self.number = 0
        self.total = 0
        self.stage_images: list[str | None] = []
        self.names: list[str] = []
        self.lexer: Lexer
        self.lease = ""
        self.files = ""  # a directory for heredocs and downloads
        self.used_args: set[str] = set()

    # --- the whole build ----------------------------------------------------------

    def build(self) -> str:
        """Build; the final image's ID (tagged with ``options.tags``)."""
        from skiff.build import snapshot
        from skiff.build.dockerfile import parse
        from skiff.build.words import Lexer

        snapshot.clean_abandoned(self.paths)
        stack = ExitStack()
        dockerfile = parse(self.context.read_dockerfile(self.options.dockerfile))
        self.lexer = Lexer(dockerfile.escape)
        stages = _Stages(dockerfile.instructions, self.options.target)
        self.names = stages.names
        self.total = stages.count() + (1 if self.options.labels else 0)
        global_args = self._global_args(stages.global_args)
        store = self.store
        self.lease = store.lease()
        try:
            self.files = stack.enter_context(snapshot.workspace(self.paths, "files"))
            image_id: str | None = None
            for index, instructions in enumerate(stages.stages):
                stage = self._from(index, instructions[0], global_args)
                for instruction in instructions[1:]:
                    self._step(stage, instruction)
                if index == len(stages.stages) - 1 and self.options.labels:
                    self._labels(stage)
                image_id = self._finish(stage)
                self.stage_images.append(image_id)
                if self.on_stage is not None:
                    self.on_stage(image_id)
            self._warn_unused(global_args)
        finally:
            stack.close()
            store.release(self.lease)
        assert image_id is not None
        self.say(f"Successfully built {image_id.removeprefix('sha256:')[:12]}\n")
        for tag in self.options.tags:
            from skiff.images import reference

            ref = reference.parse(tag)
            store.add_names(image_id, [str(ref)])
            self.say(f"Successfully tagged {ref.familiar()}\n")
        return image_id

    def _global_args(self, instructions: list[Instruction]) -> dict[str, str | None]:
        """The ARGs before the first FROM, each shown as a step."""
        values: dict[str, str | None] = {}
        for instruction in instructions:
            self._announce(instruction)
            env = {k: v for k, v in values.items() if v is not None}
            for word in instruction.args:
                name, equals, default = word.partition("=")
                if name in self.options.build_args:
                    values[name] = self.options.build_args[name]
                else:
                    values[name] = self.lexer.process_word(default, env) if equals else None
        return values

    def _warn_unused(self, global_args: dict[str, str | None]) -> None:
        from skiff.build.stage import PROXY_ARGS

        used = set(self.used_args) | set(global_args) | PROXY_ARGS
        unused = sorted(set(self.options.build_args) - used)
        if unused:
            self.say(f"[Warning] One or more build-args [{' '.join(unused)}] were not consumed\n")

    def _announce(self, instruction: Instruction) -> None:
        self.number += 1
        self.say(f"Step {self.number}/{self.total} : {instruction.original}\n")

    def _finish(self, stage: Stage) -> str:
        """The stage's image: what its last step made (a stage of only FROM is its base;
        one of FROM scratch alone, an image of nothing)."""
        self.used_args |= stage.used_args
        if stage.image_id is None:
            stage.image_id = self._commit(stage, Step("", stage.run), None)
        return stage.image_id

    # --- FROM ----------------------------------------------------------------------

    def _from(
        self, index: int, instruction: Instruction, global_args: dict[str, str | None]
    ) -> Stage:
        from skiff.build.instructions import parse_flags

        self._announce(instruction)
        flags = parse_flags(instruction)
        env = {k: v for k, v in global_args.items() if v is not None}
        name = self.lexer.process_word(instruction.args[0], env)
        platform = self.lexer.process_word(flags.get("platform", ""), env)
        image_id = self._base_image(name, platform or self.options.platform)
        config = self.store.get(image_id).config if image_id else None
        stage = Stage(
            index,
            self.names[index],
            image_id,
            config,
            self.options.build_args,
            global_args,
        )
        self.say(f" ---> {_short(image_id)}\n")
        self._triggers(stage)
        return stage

    def _base_image(self, name: str, platform: str) -> str | None:
        """The image a FROM names: an earlier stage's, none for scratch, or an image
        (pulled when it is missing, or always with ``--pull``)."""
        if not name:
            raise StepError("FROM requires either one or three arguments")
        if name.lower() in self.names[: len(self.stage_images)]:
            return self.stage_images[self.names.index(name.lower())]
        if name == "scratch":
            return None
        if not self.options.pull:
            try:
                return self.store.get(name).id
            except NotFound:
                pass
        return self.pull(name, platform)

    def pull(self, name: str, platform: str) -> str:
        """Pull ``name`` for a FROM or a COPY --from, with dockerd's lines in the output; its ID."""
        from skiff.images import reference
        from skiff.registry.pull import pull

        ref = reference.parse(name)
        shown: set[tuple[str, str]] = set()

        def report(layer: str, status: str, current: int = 0, total: int = 0) -> None:
            if not layer:
                self.say(f"{ref.tag or ref.digest}: Pulling from {ref.path}\n")
            elif status not in ("Downloading", "Extracting") and (layer, status) not in shown:
                shown.add((layer, status))
                self.say(f"{layer}: {status}\n")

        pulled = pull(self.store, ref, platform, report)
        self.say(f"Digest: {pulled.digest}\n")
        verb = "Downloaded newer image" if pulled.fresh else "Image is up to date"
        self.say(f"Status: {verb} for {ref.familiar()}\n")
        return self.store.get(str(ref)).id

    def _triggers(self, stage: Stage) -> None:
        """The base image's ONBUILD instructions, run first (and not inherited)."""
        from skiff.build.dockerfile import parse

        triggers = list(stage.run.get("OnBuild") or [])
        stage.run["OnBuild"] = None
        if not triggers:
            return
        self.say(f"# Executing {len(triggers)} build trigger{'s' if len(triggers) > 1 else ''}\n")
        for trigger in triggers:
            instructions = parse(trigger).instructions
            for instruction in instructions:
                if instruction.keyword in ("ONBUILD", "FROM", "MAINTAINER"):
                    raise StepError(f"{instruction.keyword} isn't allowed as an ONBUILD trigger")
                self._apply(stage, instruction)

    # --- steps ---------------------------------------------------------------------

    def _step(self, stage: Stage, instruction: Instruction) -> None:
        self._announce(instruction)
        self._apply(stage, instruction)

    def _labels(self, stage: Stage) -> None:
        """``--label``s: a LABEL step at the end of the last stage, as dockerd adds it."""
        from skiff.build.dockerfile import parse

        line = "LABEL " + " ".join(
            f"{jsonio.dumps(k)}={jsonio.dumps(v)}" for k, v in self.options.labels.items()
        )
        self._step(stage, parse(line).instructions[0])

    def _apply(self, stage: Stage, instruction: Instruction) -> None:
        step = dispatch(instruction, stage, self.lexer)
        change = step.change
        if change is not None and change.kind in ("copy", "add"):
            self._prepare_files(stage, step, change)
        if step.author is not None:
            stage.author = step.author
        key = self._key(stage, step)
        cached = None if self.options.no_cache else self._cached(stage, key)
        if cached is not None:
            self.say(" ---> Using cache\n")
            image_id = cached
        else:
            layer = self._change(stage, step) if change is not None else None
            image_id = self._commit(stage, step, layer)
            self._remember(stage, key, image_id)
        stage.adopt(image_id, self.store.get(image_id).config)
        self.say(f" ---> {_short(image_id)}\n")

    def _key(self, stage: Stage, step: Step) -> str:
        data = {
            "created_by": step.created_by,
            "config": step.config,
            "author": step.author,
            "sources": step.change.checksum if step.change else "",
            "network": self.options.network if step.change and step.change.kind == "run" else "",
        }
        return sha256(jsonio.dumps(data).encode()).hexdigest()

    def _cached(self, stage: Stage, key: str) -> str | None:
        row = self.store.db.execute(
            "SELECT image_id FROM build_cache WHERE parent = ? AND step = ?",
            (stage.image_id or "", key),
        ).fetchone()
        return None if row is None else str(row["image_id"])

    def _remember(self, stage_parent: Stage, key: str, image_id: str) -> None:
        from skiff import db

        store = self.store
        with db.transaction(store.db):
            store.db.execute(
                "INSERT OR REPLACE INTO build_cache VALUES (?, ?, ?)",
                (stage_parent.image_id or "", key, image_id),
            )

    # --- changing files --------------------------------------------------------------

    def _change(self, stage: Stage, step: Step) -> tuple[str, int] | None:
        """Do what the step does to the files; its layer, None when nothing changed."""
        from skiff.engine.commit import EMPTY_LAYER

        change = step.change
        assert change is not None
        if change.kind == "run":
            layer = self._run(stage, change)
        else:
            layer = self._in_snapshot(stage, change)
        return None if layer[0] == EMPTY_LAYER else layer

    def _run(self, stage: Stage, change: FileChange) -> tuple[str, int]:
        from skiff.build.run import run_step

        image_id = stage.image_id or self._commit(stage, Step("", stage.run), None)
        stage.image_id = image_id
        pending = b""

        def output(data: bytes) -> None:
            nonlocal pending
            text = pending + data
            cut = text.rfind(b"\n") + 1
            pending = text[cut:]
            if cut:
                self.say(text[:cut].decode(errors="replace"))

        running: list[str] = []

        def announce(container_id: str) -> None:
            running.append(container_id[:12])
            self.say(f" ---> Running in {container_id[:12]}\n")

        try:
            layer = run_step(
                self.engine(),
                image_id,
                change.details["command"],
                change.details["env"],
                self.options.network,
                output,
                announce,
                self.lease,
                self.cancelled,
            )
        finally:
            if pending:
                self.say(pending.decode(errors="replace") + "\n")
        self.say(f"Removing intermediate container {running[0]}\n")
        return layer

    def _in_snapshot(self, stage: Stage, change: FileChange) -> tuple[str, int]:
        """COPY, ADD and WORKDIR: done in a snapshot of the image; its upper directory is
        the layer."""
        from skiff.build.snapshot import snapshot
        from skiff.engine.commit import write_layer

        with snapshot(self.paths, self.store, stage.image_id) as view:
            if change.kind == "workdir":
                from skiff.build.files import make_workdir

                make_workdir(view.rootfs, change.details["path"])
            else:
                self._copy(view.rootfs, change)
            return write_layer(self.store, view.upper, self.lease)

    def _prepare_files(self, stage: Stage, step: Step, change: FileChange) -> None:
        """Resolve the sources of a COPY or ADD now, for its history line and its cache
        key (their content)."""
        from skiff.build.sources import resolve_sources

        resolve_sources(self, stage, step, change)

    def _copy(self, rootfs: str, change: FileChange) -> None:
        from skiff.build.sources import copy_sources

        copy_sources(self, rootfs, change)

    # --- commits -------------------------------------------------------------------

    def _commit(self, stage: Stage, step: Step, layer: tuple[str, int] | None) -> str:
        """The step's image: the stage's image config with the step's run config, a
        history entry and ``layer`` (None: an empty layer)."""
        from skiff.engine.commit import register_image
        from skiff.engine.timestamps import rfc3339_nano

        created = rfc3339_nano(time.time_ns())
        parent = stage.image_config
        config = {k: v for k, v in parent.items() if k not in ("container", "container_config")}
        run = dict(step.config)
        run["Image"] = stage.image_id or ""
        entry: dict[str, Any] = {"created": created, "created_by": step.created_by}
        rootfs = dict(parent.get("rootfs") or {"type": "layers"})
        rootfs["diff_ids"] = list(rootfs.get("diff_ids") or [])
        if layer is None:
            entry["empty_layer"] = True
        else:
            rootfs["diff_ids"].append(layer[0])
        if not step.created_by:  # an image standing for a stage from scratch
            entry = {}
        config.update(
            architecture=parent.get("architecture") or _architecture(),
            os=parent.get("os") or "linux",
            created=created,
            docker_version=f"skiff {__version__}",
            config=run,
            history=[*(parent.get("history") or []), *([entry] if entry else [])],
            rootfs=rootfs,
        )
        config.pop("author", None)
        if stage.author is not None:
            config["author"] = stage.author
        return register_image(self.store, self.lease, stage.image_id, config, layer)


def _short(image_id: str | None) -> str:
    return image_id.removeprefix("sha256:")[:12] if image_id else ""


def _architecture() -> str:
    from skiff.registry.pull import host_platform

    return host_platform()[1]


def build(
    store: ImageStore,
    engine: Callable[[], Engine],
    context: BuildContext,
    options: BuildOptions,
    say: Say,
    on_stage: Callable[[str], None] | None = None,
    cancelled: Callable[[], bool] = lambda: False,
) -> str:
    """Build the image of ``context``'s Dockerfile into ``store``; its ID. ``engine()``
    gives the engine that runs RUN steps; ``on_stage(image_id)`` hears each stage's image
    (the API's aux messages); ``cancelled()`` stops a RUN that runs (the API's client
    went away)."""
    return Builder(store, engine, context, options, say, on_stage, cancelled).build()
