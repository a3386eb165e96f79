"""A writer process for the crash and concurrency tests: ingests numbered messages into a store with
the deterministic EchoEngine (the LLM is not what these tests are about; the storage is).

    python tests/writer_proc.py DB USER SOURCE N [queue]

With ``queue``, each message is added without waiting (stored, consolidated by the background thread) and
the queue is flushed at the end: the background path.
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from fakes import EchoEngine  # noqa: E402

from edgemem import Memory, Turn  # noqa: E402
from edgemem.embedder import Embedder  # noqa: E402


def turns(source: str, n: int) -> list[Turn]:
    return [
        Turn(f"S{i % 3}", f"Message {i} from {source}: I visited place number {i}.", f"day {i}", source, str(i))
        for i in range(n)
    ]


if __name__ == "__main__":
    db, user, source, n = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
    queue = sys.argv[5:] == ["queue"]
    with Memory(db, user=user, engine=EchoEngine(), embedder=Embedder(threads=1)) as mem:
        if queue:
            for t in turns(source, n):
                mem.add(t.text, speaker=t.speaker, time=t.time, source=t.source, key=t.key)
            assert mem.flush() == 0
        else:
            mem.ingest(turns(source, n))
        print("done", mem.consolidator.consolidated, flush=True)  # how many turns this process consolidated
