"""Hypothesis-generated manager outputs through the real apply step (real SQLite file, real
embedder): never a crash, never a write to a memory the output did not validly name.
Run: .venv/bin/pytest tests/test_fuzz.py"""

from __future__ import annotations

import json

from fakes import ScriptedEngine
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

EVENTS = st.sampled_from(["ADD", "UPDATE", "DELETE", "NOOP", "NONE", "update", "MERGE", "", "DROP TABLE memories"])
IDS = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-5, 10),
    st.floats(allow_nan=True),
    st.sampled_from(["0", "1", "2", "7", "-1", "01", " 1", "abc", "3f2a-uuid"]),
    st.text(max_size=8),
    st.lists(st.integers(), max_size=2),
)
TEXTS = st.one_of(
    st.none(),
    st.integers(),
    st.text(max_size=40),
    st.just("x" * 5000),
    st.just("Sam lives in Oslo"),
    st.just("'); DELETE FROM memories; --"),
)
ENTRY = st.one_of(
    st.fixed_dictionaries({}, optional={"event": EVENTS, "id": IDS, "text": TEXTS, "old_memory": TEXTS}),
    st.integers(),
    st.text(max_size=10),
    st.none(),
    st.lists(st.integers(), max_size=3),
)
OUTPUT = st.one_of(
    st.builds(lambda entries: json.dumps({"memory": entries}), st.lists(ENTRY, max_size=6)),
    st.builds(
        lambda v: json.dumps({"memory": v}),
        st.one_of(
            st.none(),
            st.integers(),
            st.text(max_size=10),
            st.dictionaries(st.text(max_size=3), st.integers(), max_size=2),
        ),
    ),
    st.text(max_size=200),
    st.builds(lambda e: json.dumps({"memory": [e]})[:-3], ENTRY),  # cut off
)


def valid_targets(output: str, n_shown: int) -> set[str]:
    """Shown ids an UPDATE/DELETE in ``output`` names validly (the only rows that may change)."""
    try:
        entries = json.loads(output).get("memory")
    except (ValueError, AttributeError):
        return set()
    out = set()
    for e in entries if isinstance(entries, list) else []:
        if (
            isinstance(e, dict)
            and isinstance(e.get("event"), str)
            and e["event"].strip().upper() in ("UPDATE", "DELETE", "REMOVE")
        ):
            ref = e.get("id")
            if (
                isinstance(ref, (str, int))
                and not isinstance(ref, bool)
                and str(ref).strip().isdigit()
                and int(str(ref).strip()) < n_shown
            ):
                out.add(str(int(str(ref).strip())))
    return out


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(output=OUTPUT)
def test_manager_apply_never_touches_unnamed_rows(make_memory, output):
    eng = ScriptedEngine()
    mem = make_memory(eng, name="fuzz.db", relatedness_guard=0)
    if not mem.memories():
        seed = {
            "memory": [{"event": "ADD", "text": t} for t in ("Sam lives in Oslo", "Sam has a cat", "Sam plays chess")]
        }
        eng.enqueue({"facts": ["a", "b", "c"]}, seed)
        mem.add("seed", speaker="Sam", wait=True)
    before = {m.id: (m.text, m.deleted) for m in mem.memories(include_deleted=True)}
    shown = [h.id for h in mem.manager.related("u", "Sam", mem.embedder.embed(["Sam moved to Rome"]))]
    eng.enqueue({"facts": ["Sam moved to Rome"]}, output)
    r = mem.add("I moved to Rome", speaker="Sam", wait=True)  # must not raise
    assert r.turn_id is not None
    allowed = {shown[int(ref)] for ref in valid_targets(output, len(shown))}
    # a DELETE also deletes the copies of its fact (same content words), recorded as such
    allowed |= {h.memory_id for h in mem.history() if (h.detail or "").startswith("copy of memory ")}
    after = {m.id: (m.text, m.deleted) for m in mem.memories(include_deleted=True)}
    for mid, state in before.items():
        if mid not in allowed:
            assert after[mid] == state, (output, mid)
    assert mem.store.conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
