"""Export manifests: what ``python -m export`` writes and ``--model manifest.json`` loads.

A manifest names the GGUF files to serve (a merged model, or a base model plus per-agent GGUF LoRA
adapters) with their sha256, so the runtime refuses a file that changed since it was exported.

    {"format": 1, "kind": "merged" | "lora",
     "base": {"id": "smollm2-135m", "sha256": "..."},
     "model": {"path": "model-Q4_K_M.gguf", "sha256": "...", "bytes": 123},      # kind "merged"
     "adapters": {"answer": {"path": "answer-lora.gguf", "sha256": "...", "bytes": 1}},  # kind "lora"
     "agent": "answer", "quant": "Q4_K_M", "chat_template": "...", "llama_cpp_version": "0.3.36",
     "fidelity": {...}, "speed": {...}, "created": "..."}
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .config import AGENTS
from .errors import InvalidInput, ModelCorrupt, ModelNotFound
from .models import resolve_model, sha256_file

FORMAT = 1


@dataclass
class ServedModel:
    """What a manifest resolves to: one GGUF to load and the LoRA adapters to switch per agent."""

    model: Path
    adapters: dict[str, Path] = field(default_factory=dict)
    manifest: dict[str, Any] = field(default_factory=dict)


def file_entry(path: Path, root: Path) -> dict[str, Any]:
    return {"path": str(path.relative_to(root)), "sha256": sha256_file(path), "bytes": path.stat().st_size}


def _checked(entry: dict[str, Any], root: Path, what: str) -> Path:
    path = (root / entry["path"]).resolve()
    if not path.exists():
        raise ModelNotFound(
            f"{what} {path} named by the manifest does not exist. Fix: export again or restore the file."
        )
    digest = sha256_file(path)
    if digest != entry["sha256"]:
        raise ModelCorrupt(
            f"{what} {path} has sha256 {digest[:12]}..., the manifest says {entry['sha256'][:12]}.... "
            "Fix: the file changed after export; export again."
        )
    return path


def load_manifest(path: str | Path) -> ServedModel:
    """Read a manifest and verify every file it names."""
    path = Path(path)
    if not path.exists():
        raise ModelNotFound(f"Manifest {path} does not exist.")
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise InvalidInput(
            f"{path} is not a JSON manifest ({e}). Fix: pass the manifest.json that export wrote."
        ) from e
    if not isinstance(data, dict) or data.get("format") != FORMAT or data.get("kind") not in ("merged", "lora"):
        raise InvalidInput(f"{path} is not an edgemem export manifest (format {FORMAT}, kind merged or lora).")
    root = path.parent
    adapters = {}
    for agent, entry in (data.get("adapters") or {}).items():
        if agent not in AGENTS:
            raise InvalidInput(f"{path}: unknown agent {agent!r} for an adapter (expected {', '.join(AGENTS)}).")
        adapters[agent] = _checked(entry, root, f"LoRA adapter for {agent}")
    if data["kind"] == "merged":
        model = _checked(data["model"], root, "Model")
    else:
        base = data["base"]
        model = resolve_model(base.get("path") and str(root / base["path"]) or base["id"])
        if base.get("sha256") and sha256_file(model) != base["sha256"]:
            raise ModelCorrupt(
                f"The base model {model} is not the one the adapters were exported for (sha256 differs). "
                f"Fix: install the base model {base['id']} or export again."
            )
    return ServedModel(model, adapters, data)


def is_manifest(model: str | Path | None) -> bool:
    return model is not None and str(model).endswith(".json")


def served_model(model: str | Path | None) -> ServedModel:
    """What to load for ``model``: a registry name, a ``.gguf`` path or an export manifest (verified);
    None is the default model."""
    if model is not None and is_manifest(model):
        return load_manifest(model)
    return ServedModel(resolve_model(model))


def bank_identity(path: str | Path) -> dict[str, Any]:
    """What of a manifest decides the banks it builds: the model that runs the manager and the
    manager's adapter. An answer-only LoRA export builds the same bank as its base model."""
    data = json.loads(Path(path).read_text(encoding="utf-8"))
    if data.get("kind") == "lora":
        manager = (data.get("adapters") or {}).get("manager")
        return {"model": data["base"]["id"], "manager_adapter": manager and manager["sha256"]}
    return {"model": data["model"]["sha256"], "manager_adapter": None}
