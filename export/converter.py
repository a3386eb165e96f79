"""llama.cpp's own conversion scripts, of the version that matches the installed llama-cpp-python.

The llama-cpp-python sdist on PyPI carries ``vendor/llama.cpp/convert_hf_to_gguf.py``,
``convert_lora_to_gguf.py``, their ``conversion/`` package and the matching ``gguf-py``. We fetch that
sdist once with pip (the same version as the installed runtime, so the GGUF it writes is one the
runtime reads), extract those files into ``$EDGEMEM_HOME/converter/llama.cpp-<version>/`` and run the
scripts from there. ``EDGEMEM_CONVERTER_DIR`` points at an already extracted copy instead.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tarfile
import tempfile
from importlib import metadata
from pathlib import Path

from edgemem.errors import EdgememError, MissingDependency
from edgemem.models import edgemem_home

SCRIPTS = ("convert_hf_to_gguf.py", "convert_lora_to_gguf.py")


class ExportError(EdgememError):
    """A step of the export failed; nothing was written to the output folder."""


def llama_cpp_version() -> str:
    return metadata.version("llama-cpp-python")


def converter_dir() -> Path:
    env = os.environ.get("EDGEMEM_CONVERTER_DIR")
    return Path(env) if env else edgemem_home() / "converter" / f"llama.cpp-{llama_cpp_version()}"


def ensure_converter() -> Path:
    """The folder holding the conversion scripts, fetched and extracted on first use."""
    target = converter_dir()
    stamp = target / ".version"
    version = llama_cpp_version()
    if all((target / s).exists() for s in SCRIPTS):
        if os.environ.get("EDGEMEM_CONVERTER_DIR") or (stamp.exists() and stamp.read_text().strip() == version):
            return target
    if os.environ.get("EDGEMEM_CONVERTER_DIR"):
        raise MissingDependency(
            f"EDGEMEM_CONVERTER_DIR={target} has no {' / '.join(SCRIPTS)}. Fix: point it at llama.cpp's source folder."
        )
    print(f"fetching llama.cpp's converter of llama-cpp-python {version} (once) ...", flush=True)
    with tempfile.TemporaryDirectory() as tmp:
        cmd = [
            sys.executable,
            "-m",
            "pip",
            "download",
            "--quiet",
            "--no-deps",
            "--no-binary",
            ":all:",
            "-d",
            tmp,
            f"llama-cpp-python=={version}",
        ]
        r = subprocess.run(cmd, capture_output=True, text=True)
        sdists = list(Path(tmp).glob("llama_cpp_python-*.tar.gz"))
        if r.returncode != 0 or not sdists:
            raise MissingDependency(
                f"Cannot fetch the llama-cpp-python {version} sdist for its converter ({r.stderr.strip()[-300:]}). "
                "Fix: allow pip to reach PyPI once, or set EDGEMEM_CONVERTER_DIR to an extracted llama.cpp source folder."
            )
        staging = target.with_name(target.name + f".partial-{os.getpid()}")
        with tarfile.open(sdists[0]) as tar:
            prefix = tar.getnames()[0].split("/")[0] + "/vendor/llama.cpp/"
            wanted = [
                m
                for m in tar.getmembers()
                if m.name.startswith(prefix)
                and (m.name[len(prefix) :] in SCRIPTS or m.name[len(prefix) :].startswith(("conversion/", "gguf-py/")))
            ]
            for m in wanted:
                m.name = m.name[len(prefix) :]
            tar.extractall(staging, members=wanted, filter="data")
        (staging / ".version").write_text(version)
        if target.exists():
            import shutil

            shutil.rmtree(target)
        target.parent.mkdir(parents=True, exist_ok=True)
        staging.rename(target)
    return target


def run_script(script: str, args: list[str]) -> None:
    """Run one conversion script with the converter's own gguf-py (not PyPI's gguf)."""
    folder = ensure_converter()
    env = {k: v for k, v in os.environ.items() if k != "NO_LOCAL_GGUF"}
    env["PYTHONPATH"] = os.pathsep.join([str(folder / "gguf-py"), str(folder)])
    r = subprocess.run(
        [sys.executable, str(folder / script), *args], capture_output=True, text=True, env=env, cwd=folder
    )
    if r.returncode != 0:
        tail = "\n".join((r.stderr or r.stdout).strip().splitlines()[-8:])
        raise ExportError(f"{script} failed:\n{tail}")
