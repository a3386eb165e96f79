"""One Memory shared by several threads of a process. Run: .venv/bin/pytest tests/test_threads.py"""

from concurrent.futures import ThreadPoolExecutor

from fakes import EchoEngine


def test_threads_share_one_memory(make_memory):
    mem = make_memory(EchoEngine())

    def work(worker: int) -> int:
        user = f"user{worker}"
        for i in range(15):
            mem.add(f"message {i} from worker {worker}", speaker=f"S{worker}", user=user, wait=True)
            assert mem.search(f"message {i}", 3, user=user)
        a = mem.answer("what did they say?", user=user)
        assert a.answer.startswith(f"S{worker}: message") and a.context  # EchoEngine: the first excerpt
        return len(mem.memories(user=user))

    with ThreadPoolExecutor(max_workers=4) as pool:
        counts = list(pool.map(work, range(4)))
    assert counts == [15, 15, 15, 15]
    for w in range(4):  # nothing leaked across users
        assert {m.speaker for m in mem.memories(user=f"user{w}")} == {f"S{w}"}
        assert mem.stats(user=f"user{w}") == {"memories": 15, "turns": 15, "history": 15, "pending": 0}
