"""Training: data builders, rewards, and GRPO / PPO smoke runs on the packaged SmolLM2 (CPU).
Run: .venv/bin/pytest tests/test_training.py   (the smoke runs are marked slow: ~10 min on 1 thread)"""

from __future__ import annotations

import dataclasses
import json
import re
from pathlib import Path

import pytest
from conftest import LOCOMO, NO_LOCOMO, TINY
from fakes import LivesInEngine, RecordingEngine, WindowEngine

from edgemem import MemoryConfig
from edgemem.errors import InvalidInput
from training import rewards
from training.data import DataArgs, write_jsonl
from training.data import main as build_data
from training.examples import load_jsonl
from training.presets import get_preset

# the manager rewards' frozen answerer reads and writes the cited format (training.rewards.manager_reward)
CITED = MemoryConfig(answer_format="cited")

# -- data builders ----------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def locomo_data(tmp_path_factory, embedder):
    """conv-26 / conv-30, first session each, banks built by the runtime (deterministic fake LLM)."""
    if not LOCOMO.exists():
        pytest.skip(NO_LOCOMO)
    out = tmp_path_factory.mktemp("data")
    engine = RecordingEngine()
    args = DataArgs(data=LOCOMO, max_sessions=1, out=out, banks=out / "banks", model="fake")
    counts = build_data(args, engine=engine, embedder=embedder)
    return out, counts, engine


def test_counts_are_the_papers(locomo_data):
    _, counts, _ = locomo_data
    assert counts["answer_train"] == 152 and counts["answer_val"] == 81
    assert counts["manager_train"] > 0 and counts["manager_val"] > 0


def test_answer_prompts_are_the_runtimes(locomo_data, embedder):
    out, _, _ = locomo_data
    from edgemem import Memory

    example = load_jsonl(out / "answer_val.jsonl")[5]
    bank = next((out / "banks").glob("conv-30-*.db"))
    engine = RecordingEngine()
    # the training data renders the cited format the answer agent is trained in
    config = MemoryConfig.preset("cited")
    with Memory(bank, user="conv-30", engine=engine, embedder=embedder, config=config) as mem:
        mem.answer(example["question"])
    assert engine.sent["answer"][0] == example["messages"]  # byte-identical


def test_manager_prompts_are_what_the_runtime_sent(locomo_data):
    """Rebuilt from history, each manager example's prompt equals the one the runtime sent for that
    turn while building the bank."""
    out, _, engine = locomo_data
    sent = {json.dumps(m) for m in engine.sent["manage"]}
    examples = load_jsonl(out / "manager_train.jsonl") + load_jsonl(out / "manager_val.jsonl")
    assert examples and all(json.dumps(ex["messages"]) in sent for ex in examples)


def test_answer_sets_only(locomo_data, embedder):
    """--agents answer reuses the cached banks and sends no manager call (those cost an LLM call per
    evidence turn); an unknown agent name is refused before any work."""
    out, _, _ = locomo_data
    engine = RecordingEngine()
    args = DataArgs(data=LOCOMO, max_sessions=1, out=out / "answer-only", banks=out / "banks", model="fake")
    counts = build_data(dataclasses.replace(args, agents="answer"), engine=engine, embedder=embedder)
    assert counts == {"answer_train": 152, "answer_val": 81}
    assert "manage" not in engine.sent and not (out / "answer-only" / "manager_train.jsonl").exists()
    with pytest.raises(InvalidInput, match="Unknown --agents 'critic'"):
        build_data(dataclasses.replace(args, agents="critic"), engine=engine, embedder=embedder)


def test_answer_sets_with_evidence_in_the_bank(locomo_data, embedder):
    """--evidence-in-bank with --max-sessions keeps only the questions the partial bank can answer
    (the benchmark harness's rule); ids keep their place in the full question list."""
    out, _, _ = locomo_data
    args = DataArgs(
        data=LOCOMO, max_sessions=1, out=out / "in-bank", banks=out / "banks", model="fake", agents="answer"
    )
    counts = build_data(dataclasses.replace(args, evidence_in_bank=True), engine=RecordingEngine(), embedder=embedder)
    raw = {c["sample_id"]: c for c in json.loads(LOCOMO.read_text())}
    for split, conv in (("train", "conv-26"), ("val", "conv-30")):
        qas = [q for q in raw[conv]["qa"] if q["category"] != 5]
        in_d1 = [i for i, q in enumerate(qas) if all(e.split(":")[0] == "D1" for e in q["evidence"])]
        rows = load_jsonl(out / "in-bank" / f"answer_{split}.jsonl")
        assert 0 < counts[f"answer_{split}"] == len(in_d1) < len(qas)
        assert [r["id"] for r in rows] == [f"{conv}/qa{i}" for i in in_d1]


def test_manager_distractor_turns(locomo_data, embedder):
    """--distractors N appends N manager examples of turns that hold no question's evidence (where NOOP
    is right), each linked to a question whose evidence all came earlier; the evidence examples are
    unchanged, and the same seed draws the same turns."""
    out, _, _ = locomo_data
    args = DataArgs(
        data=LOCOMO, max_sessions=1, out=out / "distract", banks=out / "banks", model="fake", agents="manager"
    )
    build_data(dataclasses.replace(args, distractors=3), engine=RecordingEngine(), embedder=embedder)
    base = load_jsonl(out / "manager_train.jsonl")
    rows = load_jsonl(out / "distract" / "manager_train.jsonl")
    assert rows[: len(base)] == base and all(r["evidence_turn"] for r in base)
    extra = rows[len(base) :]
    raw = {c["sample_id"]: c for c in json.loads(LOCOMO.read_text())}["conv-26"]
    qas = [q for q in raw["qa"] if q["category"] != 5]
    evidence = {e for q in qas for e in q["evidence"]}
    order = {t["dia_id"]: i for i, t in enumerate(raw["conversation"]["session_1"])}
    assert len(extra) == 3 and not any(r["evidence_turn"] for r in extra)
    keys = [r["turn"]["key"] for r in extra]
    assert keys == sorted(keys, key=order.__getitem__) and not set(keys) & evidence
    for r in extra:
        qa = qas[int(r["id"].split("/qa")[1].split("/")[0])]
        assert r["question"] == qa["question"] and r["facts"]
        assert all(e in order and order[e] < order[r["turn"]["key"]] for e in qa["evidence"])
    build_data(
        dataclasses.replace(args, distractors=3, out=out / "distract2"), engine=RecordingEngine(), embedder=embedder
    )
    assert load_jsonl(out / "distract2" / "manager_train.jsonl") == rows
    with pytest.raises(InvalidInput, match="--distractors -1"):
        build_data(dataclasses.replace(args, distractors=-1), engine=RecordingEngine(), embedder=embedder)
    with pytest.raises(InvalidInput, match="--distractors adds manager examples"):
        build_data(
            dataclasses.replace(args, distractors=2, agents="answer"), engine=RecordingEngine(), embedder=embedder
        )


def test_manager_window_columns(locomo_data, embedder):
    """--window N: each manager example also holds its next N turns with the facts the bank extracted
    from them, and the other questions with evidence in its turn or those and all of it by the last."""
    out, _, _ = locomo_data
    args = DataArgs(
        data=LOCOMO, max_sessions=1, out=out / "window", banks=out / "banks", model="fake", agents="manager"
    )
    build_data(dataclasses.replace(args, window=3), engine=RecordingEngine(), embedder=embedder)
    base = load_jsonl(out / "manager_train.jsonl")
    rows = load_jsonl(out / "window" / "manager_train.jsonl")
    assert [{k: v for k, v in r.items() if not k.startswith("window")} for r in rows] == base
    raw = {c["sample_id"]: c for c in json.loads(LOCOMO.read_text())}["conv-26"]
    turns = raw["conversation"]["session_1"]  # the bank holds session 1 only: no window runs past it
    order = {t["dia_id"]: i for i, t in enumerate(turns)}
    qas = [q for q in raw["qa"] if q["category"] != 5]
    for r in rows:
        i = order[r["turn"]["key"]]
        assert [w["turn"]["key"] for w in r["window"]] == [t["dia_id"] for t in turns[i + 1 : i + 4]]
        assert all(w["turn"]["text"] and isinstance(w["facts"], list) for w in r["window"])
        end = i + len(r["window"])
        inside = {t["dia_id"] for t in turns[i : end + 1]}
        expected = [
            q["question"]
            for q in qas
            if q["question"] != r["question"]
            and set(q["evidence"]) & inside
            and all(e in order and order[e] <= end for e in q["evidence"])
        ]
        assert [q["question"] for q in r["window_questions"]] == expected
    assert any(r["window_questions"] for r in rows) and any(len(r["window"]) < 3 for r in rows)
    with pytest.raises(InvalidInput, match="--window -1: a count of turns"):
        build_data(dataclasses.replace(args, window=-1), engine=RecordingEngine(), embedder=embedder)
    with pytest.raises(InvalidInput, match="--window adds columns to manager examples"):
        build_data(dataclasses.replace(args, window=2, agents="answer"), engine=RecordingEngine(), embedder=embedder)


def test_wrong_data_files(tmp_path):
    with pytest.raises(InvalidInput, match="build the data first"):
        load_jsonl(tmp_path / "answer_train.jsonl")
    bad = tmp_path / "answer_train.jsonl"
    bad.write_text('{"question": "q"}\n')
    with pytest.raises(InvalidInput, match="not a training example"):
        load_jsonl(bad)
    bad.write_text("not json\n")
    with pytest.raises(InvalidInput, match="is not JSON"):
        load_jsonl(bad)


# -- rewards ------------------------------------------------------------------------------------------

ANSWER_REWARDS = [
    ('{"memories": [1], "answer": "Lisbon"}', "Lisbon", 1.0),
    ('{"memories": [], "answer": "lisbon."}', "Lisbon", 1.0),  # normalised
    ('{"memories": [], "answer": "in Lisbon"}', "Lisbon", 0.0),  # exact match, not F1
    ("I think... **Answer:** Lisbon", "Lisbon", 1.0),  # Memory-R1's free-text form
    ('{"memories": [1], "answer": ', "Lisbon", 0.0),  # cut-off JSON, no answer
    ("", "Lisbon", 0.0),
    ([{"role": "assistant", "content": '{"memories": [], "answer": "7 May 2023"}'}], "7 May, 2023", 1.0),  # chat form
]


@pytest.mark.parametrize("completion,gold,expected", ANSWER_REWARDS)
def test_answer_reward(completion, gold, expected):
    assert rewards.answer_exact_match([completion], [gold], [3]) == [expected]


PREFIXED_REWARDS = [  # the rollout continues ANSWER_PREFIX: the reward parses prefix + completion
    ('1], "answer": "Lisbon"}', "Lisbon", 1.0, 1.0),
    ('], "answer": "in Lisbon"}', "Lisbon", 0.0, 2 / 3),
    ("1, 2", "Lisbon", 0.0, 0.0),  # cut off before any answer
]


@pytest.mark.parametrize("completion,gold,em,f1", PREFIXED_REWARDS)
def test_answer_reward_after_forced_prefix(completion, gold, em, f1):
    from edgemem.prompts import ANSWER_PREFIX

    assert rewards.answer_exact_match([completion], [gold], [3], prefix=[ANSWER_PREFIX]) == [em]
    assert rewards.answer_f1([completion], [gold], [3], prefix=[ANSWER_PREFIX]) == [pytest.approx(f1)]
    assert rewards.answer_exact_match([completion], [gold], [3]) == [0.0]  # without its prefix it is no JSON


ANSWERABLE = [
    ("Berlin marathon", "[1] 2 May: Leo runs the Berlin marathon", True),
    ("the Rome one", "[1] 2 May: Leo runs the Berlin marathon", False),  # filler words do not count
    ("7 May 2023", "[1] 1:00 pm on 7 May, 2023: Leo ran", True),
    ("Painting", "[1] Maya: painting, every Sunday", True),  # case and punctuation
    ("Porto", "(none)", False),
]


@pytest.mark.parametrize("gold,context,expected", ANSWERABLE)
def test_answerable(gold, context, expected):
    from training.examples import answerable

    system = {"role": "system", "content": "Porto Rome the one"}  # the instructions are not context
    assert answerable({"answer": gold, "messages": [system, {"role": "user", "content": context}]}) is expected


def test_select_examples():
    from training.settings import RunArgs, select_examples

    rows = [
        {"answer": a, "messages": [{"role": "user", "content": "Lisbon, nurse"}]} for a in ("Lisbon", "Oslo", "nurse")
    ]
    assert select_examples(RunArgs(limit=2), rows) == rows[:2]
    assert select_examples(RunArgs(answerable_only=True), rows) == [rows[0], rows[2]]
    with pytest.raises(InvalidInput, match="--answerable-only applies to the answer agent"):
        select_examples(RunArgs(agent="manager", answerable_only=True), rows)
    # f1-probes reads a column older manager data lacks: refused before any model loads
    old_data = [{"id": "conv-26/qa0/D1:3"}, {"id": "conv-26/qa1/D1:5", "probes": []}]
    assert select_examples(RunArgs(agent="manager", reward="f1-strict"), old_data) == old_data
    assert select_examples(RunArgs(agent="manager", reward="f1-probes", limit=1), old_data[1:]) == old_data[1:]
    with pytest.raises(
        InvalidInput, match="1 examples lack .first: conv-26/qa0/D1:3.. Fix: python -m training.data --probes-only"
    ):
        select_examples(RunArgs(agent="manager", reward="f1-probes"), old_data)


SCHEMA_REWARDS = [  # f1-json: F1 only for output the runtime's answer grammar could have produced
    ('{"memories": [1, 2], "answer": "in Lisbon"}', "Lisbon", 2 / 3),
    ('{"memories": [], "answer": "Lisbon"}\n', "Lisbon", 1.0),
    ('{"memories": ["21 June"], "answer": "Lisbon"}', "Lisbon", 0.0),  # drift the grammar would forbid
    ('{"memories": [1, 2, 3, 4, 5, 6], "answer": "Lisbon"}', "Lisbon", 0.0),  # more than 5 cited
    ('{"memories": [1], "answer": "Lisbon", "why": "x"}', "Lisbon", 0.0),
    ('{"memories": [1], "answer": "Lisbon"} and more', "Lisbon", 0.0),
    ("I think... **Answer:** Lisbon", "Lisbon", 0.0),  # the lenient parser's free-text form
]


@pytest.mark.parametrize("completion,gold,expected", SCHEMA_REWARDS)
def test_answer_f1_json(completion, gold, expected):
    assert rewards.answer_f1_json([completion], [gold], [3]) == [pytest.approx(expected)]


def manager_example(**over):
    ex = {
        "id": "ex1",
        "user": "u",
        "turn": {"speaker": "Sam", "text": "I moved to Rome", "time": "2 June", "source": "s", "key": "D2:1"},
        "facts": ["Sam moved to Rome"],
        "bank": [{"id": 7, "speaker": "Sam", "text": "Sam lives in Oslo", "time": "1 May"}],
        "shown": [7],
        "messages": [],
        "question": "Where does Sam live?",
        "answer": "Rome",
    }
    return {**ex, **over}


MANAGER_REWARDS = [
    # the right edit: the answer agent now reads Rome
    ({"event": "UPDATE", "id": "0", "text": "Sam lives in Rome"}, 1.0),
    # keeping the stale memory: the answer stays Oslo
    ({"event": "NOOP", "id": "0"}, 0.0),
    # deleting the evidence memory: nothing left to answer from
    ({"event": "DELETE", "id": "0"}, 0.0),
    # a hallucinated id is rejected, nothing changes
    ({"event": "UPDATE", "id": "3", "text": "Sam lives in Rome"}, 0.0),
]


@pytest.mark.parametrize("op,expected", MANAGER_REWARDS)
def test_manager_outcome_reward(embedder, op, expected):
    reward = rewards.ManagerOutcomeReward(LivesInEngine(), embedder, CITED)
    ex = manager_example()
    cols = {k: [v] for k, v in ex.items()}
    cols["trainer_state"] = object()  # TRL passes extras like this one
    assert reward([json.dumps({"memory": [op]})], **cols) == [expected]


def test_manager_reward_reads_the_forced_prefix(embedder):
    """GRPO rollouts continue ``MANAGER_PREFIX``: the reward parses prefix + completion."""
    from edgemem.prompts import MANAGER_PREFIX

    reward = rewards.ManagerOutcomeReward(LivesInEngine(), embedder, CITED)
    cols = {k: [v] for k, v in manager_example().items()}
    tail = '{"event": "UPDATE", "id": "0", "text": "Sam lives in Rome"}]}'
    assert reward([tail], prefix=[MANAGER_PREFIX], **cols) == [1.0]
    assert reward([tail], **cols) == [0.0]  # without it the tail alone does not parse


def test_manager_reward_with_f1_scores_partial_answers(embedder):
    reward = rewards.ManagerOutcomeReward(LivesInEngine(), embedder, CITED, rewards.MANAGER_REWARDS["f1"])
    ex = manager_example(answer="Rome, Italy")
    update = '{"memory": [{"event": "UPDATE", "id": "0", "text": "Sam lives in Rome"}]}'
    assert reward.__name__ == "manager_outcome_f1"
    assert reward.score(update, ex) == pytest.approx(2 / 3)  # "Rome" against "Rome, Italy"
    assert reward.score('{"memory": [{"event": "NOOP", "id": "0"}]}', ex) == 0.0  # still Oslo


def test_manager_reward_refuses_answer_only_rewards():
    with pytest.raises(InvalidInput, match="cannot be 'f1-json'. Fix: --reward em, f1, f1-accepted"):
        rewards.frozen_answerer_reward("smollm2-135m", metric="f1-json")


@pytest.mark.slow
def test_frozen_answerer_reward_takes_another_price():
    """--add-cost replaces f1-budget's price; without it the reward keeps its own (real SmolLM2 answerer)."""
    assert rewards.frozen_answerer_reward("smollm2-135m", metric="f1-budget", add_cost=0.02).add_cost == 0.02
    strict = rewards.frozen_answerer_reward("smollm2-135m", metric="f1-strict", add_cost=0.05)
    assert (strict.add_cost, strict.reject_cost, strict.accepted_share) == (0.05, 0.5, False)
    assert (
        rewards.frozen_answerer_reward("smollm2-135m", metric="f1-budget").add_cost
        == rewards.MANAGER_REWARDS["f1-budget"].add_cost
    )


ACCEPTED_SHARE = [
    # operations, reward: F1 of the frozen answer times the share of operations the planner accepted
    ([{"event": "UPDATE", "id": "0", "text": "Sam lives in Rome"}], 1.0),
    # the same edit plus an operation on an id that was never shown: rejected, half the reward
    ([{"event": "UPDATE", "id": "0", "text": "Sam lives in Rome"}, {"event": "DELETE", "id": "4"}], 0.5),
    # only a rejected operation: the bank is unchanged (Oslo) and nothing was accepted
    ([{"event": "UPDATE", "id": "4", "text": "Sam lives in Rome"}], 0.0),
]


@pytest.mark.parametrize("ops,expected", ACCEPTED_SHARE)
def test_manager_reward_times_the_accepted_share(embedder, ops, expected):
    from edgemem.metrics import f1

    reward = rewards.ManagerOutcomeReward(
        LivesInEngine(), embedder, CITED, rewards.ManagerReward(f1, accepted_share=True)
    )
    assert reward.__name__ == "manager_outcome_f1_accepted"
    assert reward.score(json.dumps({"memory": ops}), manager_example()) == pytest.approx(expected)


ADD_BUDGET = [
    # operations, reward: F1 x accepted share - 0.1 x ADDs / facts (the example has one fact)
    ([{"event": "UPDATE", "id": "0", "text": "Sam lives in Rome"}], 1.0),  # the bank does not grow
    # the right edit plus an ADD of small talk: the answer is right, the ADD has its price
    ([{"event": "UPDATE", "id": "0", "text": "Sam lives in Rome"}, {"event": "ADD", "text": "Sam likes tea"}], 0.9),
    # an ADD that does not help the answer (still Oslo) costs
    ([{"event": "ADD", "text": "Sam moved to Rome"}], -0.1),
    ([{"event": "NOOP", "id": "0"}], 0.0),
]


@pytest.mark.parametrize("ops,expected", ADD_BUDGET)
def test_manager_reward_prices_adds(embedder, ops, expected):
    reward = rewards.ManagerOutcomeReward(LivesInEngine(), embedder, CITED, rewards.MANAGER_REWARDS["f1-budget"])
    assert reward.__name__ == "manager_outcome_f1_accepted_budget"
    assert reward.score(json.dumps({"memory": ops}), manager_example()) == pytest.approx(expected)


STRICT = [
    # operations, reward: F1 - 0.1 x ADDs / facts - 0.5 x rejected share (the example has one fact)
    ([{"event": "UPDATE", "id": "0", "text": "Sam lives in Rome"}], 1.0),
    ([{"event": "UPDATE", "id": "0", "text": "Sam lives in Rome"}, {"event": "DELETE", "id": "4"}], 0.75),
    # a rejected operation with a wrong answer: f1-budget scores it 0, like a NOOP; here it costs
    ([{"event": "UPDATE", "id": "4", "text": "Sam lives in Rome"}], -0.5),
    ([{"event": "ADD", "text": "Sam moved to Rome"}], -0.1),
    ([{"event": "NOOP", "id": "0"}], 0.0),
]


@pytest.mark.parametrize("ops,expected", STRICT)
def test_manager_reward_charges_rejected_operations(embedder, ops, expected):
    reward = rewards.ManagerOutcomeReward(LivesInEngine(), embedder, CITED, rewards.MANAGER_REWARDS["f1-strict"])
    assert reward.__name__ == "manager_outcome_f1_budget_strict"
    assert reward.score(json.dumps({"memory": ops}), manager_example()) == pytest.approx(expected)


def test_manager_reward_invalid_output_and_cache(embedder):
    reward = rewards.ManagerOutcomeReward(LivesInEngine(), embedder, CITED)
    ex = manager_example()
    assert reward.score("not json at all", ex) == 0.0
    assert reward.score('{"memory": "ADD"}', ex) == 0.0
    good = '{"memory": [{"event": "UPDATE", "id": "0", "text": "Sam lives in Rome"}]}'
    assert reward.score(good, ex) == reward.score(good, ex) == 1.0
    assert len(reward.cache) == 3
    # the template bank is untouched by earlier rollouts: a NOOP still answers Oslo -> 0
    assert reward.score('{"memory": [{"event": "NOOP", "id": "0"}]}', ex) == 0.0


def window_example(**over: object) -> dict[str, object]:
    """A turn whose fact no question of its own needs ("Sam drinks tea", linked to where Sam lives), then a
    window of one turn by Ana and a question about the tea."""
    ex = manager_example(
        turn={"speaker": "Sam", "text": "I drink tea", "time": "2 June", "source": "s", "key": "D2:1"},
        facts=["Sam drinks tea"],
        answer="Oslo",
        window=[
            {
                "turn": {"speaker": "Ana", "text": "I live in Rome", "time": "2 June", "source": "s", "key": "D2:2"},
                "facts": ["Ana lives in Rome"],
            }
        ],
        window_questions=[{"question": "What does Sam drink?", "answer": "tea"}],
    )
    return {**ex, **over}


WINDOW = [
    # operations, per-turn f1 reward, f1-window: the mean over "where does Sam live" (Oslo, right either
    # way) and "what does Sam drink" (needs this turn's fact), less 0.5 x the rejected share
    ([{"event": "ADD", "text": "Sam drinks tea"}], 1.0, 1.0),
    ([{"event": "NOOP", "id": "0"}], 1.0, 0.5),  # the per-turn reward cannot tell them apart
    # a DELETE of Oslo unrelated to the tea is rejected by the planner: still Oslo, no tea, and its price
    ([{"event": "DELETE", "id": "0"}], 1.0, 0.0),
    # an UPDATE of an unrelated memory is kept as an ADD: Oslo and the tea
    ([{"event": "UPDATE", "id": "0", "text": "Sam drinks tea"}], 1.0, 1.0),
]


@pytest.mark.parametrize("ops,per_turn,windowed", WINDOW)
def test_windowed_manager_reward(embedder, ops, per_turn, windowed):
    text = json.dumps({"memory": ops})
    plain = rewards.ManagerOutcomeReward(WindowEngine(), embedder, CITED, rewards.MANAGER_REWARDS["f1"])
    reward = rewards.ManagerOutcomeReward(WindowEngine(), embedder, CITED, rewards.MANAGER_REWARDS["f1-window"])
    assert reward.__name__ == "manager_outcome_f1_strict_window"
    assert plain.score(text, window_example()) == pytest.approx(per_turn)
    assert reward.score(text, window_example()) == pytest.approx(windowed)


def test_windowed_reward_replays_the_window_through_the_manager(embedder):
    """The window's turns are applied as the runtime would (their facts stored), so a question about a
    window turn is answered from it; a repeated prompt costs no second model call."""
    engine = WindowEngine()
    reward = rewards.ManagerOutcomeReward(engine, embedder, CITED, rewards.MANAGER_REWARDS["f1-window"])
    ex = window_example(
        question="What does Sam drink?",
        answer="tea",
        window_questions=[{"question": "Where does Ana live?", "answer": "Rome"}],  # from the window's turn
        bank=[{"id": 7, "speaker": "Sam", "text": "Sam plays chess", "time": "1 May"}],
    )
    assert reward.score('{"memory": [{"event": "ADD", "text": "Sam drinks tea"}]}', ex) == pytest.approx(1.0)
    calls = len(engine.calls)
    # another output that leaves the same memories: every prompt was asked already
    assert reward.score('{"memory": [{"event": "ADD", "text": "Sam drinks tea"}], "note": 1}', ex) == 1.0
    assert len(engine.calls) == calls
    no_window = {k: v for k, v in ex.items() if k != "window"}
    with pytest.raises(
        InvalidInput, match="no 'window' column.*Fix: python -m training.data --agents manager --window"
    ):
        reward.score('{"memory": [{"event": "NOOP", "id": "0"}]}', no_window | {"id": "other"})


def test_remembered_engine_keeps_recent_greedy_completions_only():
    """Greedy completions are asked once while kept; sampled and streamed ones always reach the model;
    past the limit the least recently used is dropped and asked again."""
    engine = RecordingEngine()
    kept = rewards.RememberedEngine(engine, limit=2)
    ask = {p: [{"role": "user", "content": p}] for p in "abc"}
    kept.complete(ask["a"])
    kept.complete(ask["b"])
    kept.complete(ask["a"])  # kept: no call, and now the most recently used
    kept.complete(ask["a"], temperature=0.7)  # sampled: always the model's
    assert len(engine.sent[""]) == 3 and kept.calls == 2
    kept.complete(ask["c"])  # over the limit: "b", the least recently used, goes
    kept.complete(ask["a"])
    assert len(engine.sent[""]) == 4
    kept.complete(ask["b"])
    assert len(engine.sent[""]) == 5 and kept.calls == 4 and len(kept.kept) == 2


@pytest.mark.slow
def test_windowed_reward_on_the_real_stack():
    """f1-window with llama.cpp (SmolLM2 as the frozen answerer and the untrained manager) and the real
    embedder: the sampled ADD and every window turn leave their record in the edited bank's history,
    and the score is the reward's range (mean F1 less at most 0.5)."""
    reward = rewards.frozen_answerer_reward("smollm2-135m", answer_k=5, metric="f1-window")
    ex = window_example(
        window=[
            {
                "turn": {"speaker": "Ana", "text": f"I {verb}", "time": "2 June", "source": "s", "key": f"D2:{i}"},
                "facts": [f"Ana {fact}"],
            }
            for i, (verb, fact) in enumerate(
                [("live in Rome", "lives in Rome"), ("moved to Milan", "moved to Milan")], start=2
            )
        ]
    )
    text = '{"memory": [{"event": "ADD", "text": "Sam drinks tea"}]}'
    edited = reward.edit(text, ex)
    assert edited is not None
    store, _ = edited
    try:
        reward.replay_window(ex, store)
        turns = {h.turn_id for h in store.history("u")}
        assert None not in turns and len(turns) == 3  # the sampled turn and both window turns were applied
        assert "Sam drinks tea" in [m.text for m in store.memories("u")]
    finally:
        store.close()
    assert -0.5 <= reward.score(text, ex) <= 1.0


def test_select_examples_checks_the_window_column():
    from training.settings import RunArgs, select_examples

    rows = [{"id": "a", "window": [], "window_questions": []}, {"id": "b"}]
    assert select_examples(RunArgs(agent="manager", reward="f1-window", limit=1), rows) == rows[:1]
    assert select_examples(RunArgs(agent="manager", reward="f1-strict"), rows) == rows
    with pytest.raises(InvalidInput, match="reads each example's 'window' column, which 1 examples lack .first: b."):
        select_examples(RunArgs(agent="manager", reward="f1-window"), rows)


def test_manager_valid_json_reward():
    outs = ['{"memory": [{"event": "ADD", "text": "a"}, {"event": "DELETE", "id": "9"}]}', "nope"]
    assert rewards.manager_valid_json(outs, [[1], [1]], [["a", "b"], ["a"]]) == [0.5, 0.0]


# -- trainers: bad input ------------------------------------------------------------------------------


def test_unknown_agent_and_preset(tmp_path):
    from training import grpo, ppo

    with pytest.raises(InvalidInput, match="Unknown agent 'critic'"):
        grpo.main(grpo.GRPOArgs(agent="critic", data=tmp_path))
    with pytest.raises(InvalidInput, match="Unknown preset 'tpu'.*cpu-smoke"):
        ppo.main(ppo.PPOArgs(preset="tpu", data=tmp_path))
    assert get_preset("qwen2.5-3b").learning_rate == 1e-6  # the paper's actor lr


def test_existing_adapter_and_mismatched_base(tmp_path):
    from training import grpo

    out = tmp_path / "run"
    (out / "adapter").mkdir(parents=True)
    with pytest.raises(InvalidInput, match="already exists.*--resume"):
        grpo.main(grpo.GRPOArgs(data=tmp_path, output_dir=out))
    (out / "edgemem_adapter.json").write_text(json.dumps({"base_model": "qwen2.5-coder-0.5b"}))
    with pytest.raises(InvalidInput, match="was trained from qwen2.5-coder-0.5b, not smollm2-135m"):
        grpo.main(grpo.GRPOArgs(data=tmp_path, output_dir=out, resume=True))


def test_cli_error_is_one_line(tmp_path):
    import subprocess
    import sys

    r = subprocess.run(
        [sys.executable, "-m", "training.grpo", "--agent", "critic", "--data", str(tmp_path)],
        capture_output=True,
        text=True,
        cwd=Path(__file__).resolve().parents[1],
    )
    assert r.returncode == 1 and r.stderr.strip() == "Error: Unknown agent 'critic'. Expected one of: answer, manager."


# -- trainers: CPU smoke runs on the real stack ------------------------------------------------------------


@pytest.fixture(scope="module")
def tiny_data(tmp_path_factory):
    """A tiny LoCoMo-format conversation, banks built by the real runtime on SmolLM2 (llama.cpp)."""
    root = tmp_path_factory.mktemp("tiny")
    path = root / "tiny.json"
    path.write_text(json.dumps([TINY, {**TINY, "sample_id": "tiny-val"}]))
    args = DataArgs(
        data=path,
        train="tiny",
        val="tiny-val",
        model="smollm2-135m",
        threads=1,
        out=root / "data",
        banks=root / "banks",
    )
    counts = build_data(args)
    return root, counts


@pytest.mark.slow
@pytest.mark.parametrize("agent", ["answer", "manager"])
def test_rollouts_continue_the_forced_prefix(tiny_data, agent):
    """GRPO prompts end inside the assistant's reply, at the JSON start the runtime's grammar forces,
    rendered by the model's own chat template (one assistant turn, not a closed one + a new one)."""
    from transformers import AutoTokenizer

    from edgemem.prompts import ANSWER_PREFIX, MANAGER_PREFIX
    from training.base_model import hf_model_dir
    from training.examples import render_prompt
    from training.grpo import dataset_rows

    root, _ = tiny_data
    prefix = {"answer": ANSWER_PREFIX, "manager": MANAGER_PREFIX}[agent]
    rows = dataset_rows(agent, load_jsonl(root / "data" / f"{agent}_train.jsonl"))
    assert rows[0]["prefix"] == prefix and rows[0]["prompt"][-1] == {"role": "assistant", "content": prefix}
    tok = AutoTokenizer.from_pretrained(hf_model_dir("smollm2-135m"))
    text = render_prompt(tok, rows[0]["prompt"])
    assert text.endswith(prefix) and text.count("<|im_start|>assistant") == 1, text[-200:]
    assert render_prompt(tok, text) == text
    plain = render_prompt(tok, rows[0]["prompt"][:-1])  # no forced start: a new assistant turn is opened
    assert plain.endswith("<|im_start|>assistant\n")


def check_run(adapter: Path, reward_key: str) -> None:
    from peft import PeftModel
    from transformers import AutoModelForCausalLM

    meta = json.loads((adapter.parent / "edgemem_adapter.json").read_text())
    base = AutoModelForCausalLM.from_pretrained(meta["model_dir"])
    model = PeftModel.from_pretrained(base, str(adapter))  # the adapter loads back onto its base
    assert any("lora" in n for n, _ in model.named_parameters())
    log = json.loads((adapter.parent / "run_log.json").read_text())
    steps = [s for s in log["steps"] if any(reward_key in k for k in s)]
    assert len(steps) == 2, log["steps"]
    assert all(50 < s["rss_mb"] < 20_000 for s in steps)  # resident memory logged per step
    assert all(s["rss_before_release_mb"] > 50 for s in steps)
    assert 0 < steps[0]["elapsed_s"] <= steps[1]["elapsed_s"]  # wall time per step, for step times
    assert (adapter.parent / "RUN_CARD.md").exists()


@pytest.mark.slow
@pytest.mark.parametrize(
    "method,agent", [("grpo", "answer"), ("grpo", "manager"), ("ppo", "answer"), ("ppo", "manager")]
)
def test_smoke_training(tiny_data, method, agent):
    from training import grpo, ppo

    root, counts = tiny_data
    assert counts[f"{agent}_train"] > 0, counts
    common = {
        "agent": agent,
        "data": root / "data",
        "output_dir": root / f"{method}-{agent}",
        "answerer_model": "smollm2-135m",
        "limit": 4,
    }
    if method == "grpo":
        adapter = grpo.main(grpo.GRPOArgs(**common))
        check_run(adapter, "reward")
        if agent == "answer":  # an interrupted run continues from its last checkpoint
            grpo.main(grpo.GRPOArgs(**common, resume=True, max_steps=3))
            log = json.loads((adapter.parent / "run_log.json").read_text())
            assert [s["step"] for s in log["steps"] if "reward" in s] == [1, 2, 3]
    else:
        adapter = ppo.main(ppo.PPOArgs(**common))
        check_run(adapter, "objective/scores")


@pytest.mark.slow
def test_ppo_models_are_checkpointed_and_the_value_model_is_lora():
    """TRL's PPO loop never turns activation checkpointing on, so training.ppo does, on both models (the
    0.5B policy without it went past 13 GB in its first step); the value model trains a LoRA and its
    score head only, and TRL still reaches its backbone and head by the model's own names."""
    import torch

    from training import ppo
    from training.base_model import hf_model_dir
    from training.presets import get_preset

    preset = get_preset("cpu-smoke")
    policy, value = ppo.load_models(hf_model_dir(preset.base_model), preset, 0, checkpointing=True)
    assert policy.is_activation_checkpointing and value.is_activation_checkpointing
    _, plain = ppo.load_models(hf_model_dir(preset.base_model), preset, 0, checkpointing=False)
    assert not plain.is_activation_checkpointing
    trainable = {n for n, p in value.named_parameters() if p.requires_grad}
    assert trainable and all("lora_" in n or "score" in n for n in trainable), sorted(trainable)[:5]
    assert any("score" in n for n in trainable)
    total = sum(p.numel() for p in value.parameters())
    assert sum(p.numel() for n, p in value.named_parameters() if n in trainable) < 0.05 * total
    value.train()
    hidden = getattr(value, value.base_model_prefix)(input_ids=torch.tensor([[1, 2, 3]]), output_hidden_states=True)
    scores = value.score(hidden.hidden_states[-1])
    assert scores.shape == (1, 3, 1)
    scores.sum().backward()
    assert all(p.grad is not None for n, p in value.named_parameters() if n in trainable and "lora_B" in n)


@pytest.mark.slow
def test_ppo_memory_budget_ends_the_run_with_its_adapter(tiny_data, tmp_path):
    """A PPO run past --max-rss-gb after its first step stops there, saves the adapter (no checkpoint
    and exit 75 as GRPO: TRL's PPO cannot resume), and the run log says why."""
    from training import ppo

    root, _ = tiny_data
    out = tmp_path / "ppo"
    adapter = ppo.main(
        ppo.PPOArgs(agent="answer", data=root / "data", output_dir=out, limit=4, max_steps=3, max_rss_gb=0.001)
    )
    assert (adapter / "adapter_config.json").exists() and (adapter / "adapter_model.safetensors").exists()
    log = json.loads((out / "run_log.json").read_text())
    assert "memory budget of 0.001 GB reached at step 1" in log["stopped"]
    assert [s["step"] for s in log["steps"] if "objective/scores" in s] == [1]


@pytest.mark.slow
@pytest.mark.parametrize("method", ["grpo", "ppo"])
def test_time_budget_validation_and_curves(tiny_data, method, tmp_path):
    """A zero-minute budget ends the run after its first step with the adapter saved (TRL's PPO loop
    ignores the stop flag: it is left by an exception); GRPO validates at the start and at the stop
    with the F1 reward, and the learning curves are drawn from the run log."""
    from training import curves, grpo, ppo

    root, _ = tiny_data
    out = tmp_path / method
    common = {"agent": "answer", "data": root / "data", "output_dir": out, "limit": 4, "max_steps": 3}
    common.update(max_minutes=0.0, reward="f1")
    if method == "grpo":
        adapter = grpo.main(grpo.GRPOArgs(**common, val_every=5, val_limit=2))
    else:  # two passes of 2 sequences per step of 4 rollouts
        adapter = ppo.main(ppo.PPOArgs(**common, micro_batch=2))
    assert (adapter / "adapter_config.json").exists()
    log = json.loads((out / "run_log.json").read_text())
    assert "time budget" in log["stopped"]
    assert log["config"]["reward"] == "f1"
    series = curves.curves(log)
    assert [s for s, _ in series["train"]] == [1]
    if method == "grpo":
        assert [s for s, _ in series["val"]] == [0, 1] and all(0 <= v <= 1 for _, v in series["val"])
        assert len(log["val_samples"]["0"]) == 2
    png = curves.main([str(out), "--out", str(tmp_path / "curves.png")])
    assert png.stat().st_size > 5000


CURVES = [
    # (logged steps, expected series)
    (
        [{"step": 0, "val_reward": 0.1}, {"step": 1, "reward": 0.5}],
        {"train": [(1, 0.5)], "val": [(0, 0.1)], "loss": []},
    ),
    ([{"step": 1, "objective/scores": 0.25}], {"train": [(1, 0.25)], "val": [], "loss": []}),  # PPO
    ([{"step": 1, "loss": 2}, {"step": 2, "loss": 1.5}], {"train": [], "val": [], "loss": [(1, 2.0), (2, 1.5)]}),  # SFT
    ([{"step": 3, "reward": "n/a", "loss": None}], {"train": [], "val": [], "loss": []}),  # not numbers: skipped
]


@pytest.mark.parametrize("steps,expected", CURVES)
def test_curves_series(steps, expected):
    from training.curves import curves

    assert curves({"steps": steps}) == expected


def test_resumed_run_log_drops_the_steps_it_runs_again(tmp_path):
    """Killed at step 17 with checkpoint-10 on disk: the resumed run repeats steps 11-17, so its log
    keeps steps 0-10 only (no doubled points in the curves)."""
    from training.runlog import RunLog, last_checkpoint

    log = RunLog(tmp_path / "run_log.json", {})
    for step in range(18):
        log.log(step, {"reward": step / 10})
    for n in (5, 10, "x"):
        (tmp_path / f"checkpoint-{n}").mkdir()
    assert last_checkpoint(tmp_path) == 10 and last_checkpoint(tmp_path / "none") is None
    resumed = RunLog(tmp_path / "run_log.json", {}, resume=True)
    assert [s["step"] for s in resumed.data["steps"]] == list(range(11)) and resumed.data["resumed_at_step"] == 10
    assert RunLog(tmp_path / "run_log.json", {}).data["steps"] == []  # a fresh run starts a fresh log


_RELEASE_PROBE = """
import ctypes, json
from edgemem.machine import release_memory, rss_mb
libc = ctypes.CDLL(None)
libc.malloc.restype = ctypes.c_void_p
libc.malloc.argtypes = [ctypes.c_size_t]
libc.free.argtypes = [ctypes.c_void_p]
libc.memset.argtypes = [ctypes.c_void_p, ctypes.c_int, ctypes.c_size_t]
base = rss_mb()
blocks = [libc.malloc(64 * 1024) for _ in range(4000)]  # ~256 MB of 64 KiB blocks
for b in blocks:
    libc.memset(b, 1, 64 * 1024)
grown = rss_mb()
for b in blocks[:-1]:
    libc.free(b)
held = rss_mb()
release_memory()
released = rss_mb()
print(json.dumps({"base": base, "grown": grown, "held": held, "released": released}))
"""


@pytest.mark.skipif(not Path("/proc/self/status").exists(), reason="reads RSS from /proc (Linux)")
def test_release_memory_returns_freed_heap_to_the_os():
    """Many mid-sized blocks below glibc's mmap threshold stay in the heap after free(); one block kept
    at the top pins them there. release_memory must hand those pages back (what the training loop
    calls after every step). In a fresh interpreter: inside the test session, earlier tests leave
    free lists and arenas that serve the blocks from elsewhere, and the probe measures nothing."""
    import json
    import subprocess
    import sys

    out = subprocess.run(
        [sys.executable, "-c", _RELEASE_PROBE],
        capture_output=True,
        text=True,
        check=True,
        cwd=Path(__file__).parents[1],
    ).stdout
    m = json.loads(out.strip().splitlines()[-1])
    assert m["grown"] - m["base"] > 200, m
    assert m["held"] - m["base"] > 200, ("glibc returned the pages by itself; the test no longer shows anything", m)
    assert m["held"] - m["released"] > 200, m


def test_memory_budget_stops_with_a_checkpoint(tmp_path):
    """Past --max-rss-gb the step ends with a checkpoint and the stop flag, the run log says why."""
    from types import SimpleNamespace

    from training.callbacks import trainer_callback
    from training.runlog import RunLog

    log = RunLog(tmp_path / "run_log.json", {})
    state, control = SimpleNamespace(global_step=7, max_steps=100), SimpleNamespace(should_training_stop=False)
    roomy = trainer_callback(log, max_rss_gb=1000.0)
    roomy.on_train_begin(None, state, control)
    roomy.on_step_end(None, state, control)
    assert not control.should_training_stop and not roomy.memory_stop
    tight = trainer_callback(log, max_rss_gb=0.001)
    tight.on_train_begin(None, state, control)
    tight.on_step_end(None, state, control)
    assert control.should_training_stop and control.should_save and tight.memory_stop
    stopped = json.loads(log.path.read_text())["stopped"]
    assert "memory budget of 0.001 GB reached at step 7" in stopped and "continue with --resume" in stopped


def test_memory_budget_raises_for_a_loop_that_cannot_resume(tmp_path):
    """TRL's PPO ignores the stop flag and cannot resume: at --max-rss-gb the callback raises, so the
    script saves the adapter (a PPO manager run was OOM-killed after 9 steps with nothing saved: experiments/manager-ppo-probes)."""
    from types import SimpleNamespace

    from training.callbacks import BudgetReached, trainer_callback
    from training.runlog import RunLog

    log = RunLog(tmp_path / "run_log.json", {})
    state, control = SimpleNamespace(global_step=3, max_steps=100), SimpleNamespace(should_training_stop=False)
    roomy = trainer_callback(log, raise_on_stop=True, max_rss_gb=1000.0)
    roomy.on_train_begin(None, state, control)
    roomy.on_step_end(None, state, control)  # under the budget: no exception
    tight = trainer_callback(log, raise_on_stop=True, max_rss_gb=0.001)
    tight.on_train_begin(None, state, control)
    with pytest.raises(BudgetReached, match="memory budget of 0.001 GB reached at step 3"):
        tight.on_step_end(None, state, control)
    stopped = json.loads(log.path.read_text())["stopped"]
    assert "adapter saved (no resume)" in stopped and "--resume" not in stopped.replace("(no resume)", "")


@pytest.mark.slow
def test_memory_budget_exit_and_resume(tiny_data, tmp_path):
    """A GRPO run over its memory budget saves a checkpoint and exits 75; --resume finishes it."""
    from training import grpo
    from training.callbacks import EXIT_RESUME
    from training.runlog import last_checkpoint

    root, _ = tiny_data
    common = {"agent": "answer", "data": root / "data", "output_dir": tmp_path / "run", "limit": 4, "max_steps": 2}
    with pytest.raises(SystemExit) as stop:
        grpo.main(grpo.GRPOArgs(**common, max_rss_gb=0.001, keep_checkpoints=0))
    assert stop.value.code == EXIT_RESUME and last_checkpoint(tmp_path / "run") == 1
    grpo.main(grpo.GRPOArgs(**common, resume=True))
    log = json.loads((tmp_path / "run" / "run_log.json").read_text())
    assert [s["step"] for s in log["steps"] if "reward" in s] == [1, 2] and "stopped" not in log


@pytest.mark.parametrize(
    "agent,reward,expected",
    [
        ("answer", "bleu", "Unknown reward 'bleu' for the answer agent. Expected one of: em, f1, f1-json, f1-plain."),
        ("answer", "f1-accepted", "Unknown reward 'f1-accepted' for the answer agent"),
        (
            "manager",
            "f1-json",
            "Unknown reward 'f1-json' for the manager agent. Expected one of: em, f1, f1-accepted, f1-budget, f1-strict, f1-probes, f1-window.",
        ),
    ],
)
def test_unknown_reward(tmp_path, agent, reward, expected):
    from training import grpo, ppo

    for trainer in (grpo, ppo):
        with pytest.raises(InvalidInput, match=re.escape(expected)):
            trainer.main(trainer.RunArgs(agent=agent, reward=reward, data=tmp_path))


def test_every_setting_parses_from_its_flag():
    """Each RunArgs field gets a flag of its own type (a float | None once arrived as a string)."""
    from dataclasses import dataclass, fields

    from training.settings import RunArgs, settings_parser

    argv = ["--max-minutes", "1.5", "--threads", "2", "--reward", "f1", "--val-every", "3", "--resume", "--data", "d"]
    args = RunArgs(**vars(settings_parser(RunArgs, "").parse_args(argv)))
    assert args.max_minutes == 1.5 and args.threads == 2 and args.reward == "f1" and args.val_every == 3
    assert args.resume is True and str(args.data) == "d" and args.max_steps is None
    from export.pipeline import ExportArgs
    from training.data import DataArgs
    from training.sft import SFTArgs

    for cls in (RunArgs, DataArgs, ExportArgs, SFTArgs):  # an unknown field type fails here, not as a string later
        parser = settings_parser(cls, "")
        assert {a.dest for a in parser._actions} >= {f.name for f in fields(cls)}

    @dataclass
    class Odd:
        when: complex = 0j

    with pytest.raises(TypeError, match="Odd.when"):
        settings_parser(Odd, "")


@pytest.mark.parametrize(
    "text,expected",
    [
        ('{"memories": [2, 4], "answer": "Lisbon"}', '2, 4], "answer": "Lisbon"}'),
        ('{"memories":[],"answer":"7 May 2023"}', '], "answer": "7 May 2023"}'),  # canonical spacing
        ('{"memories": [1], "answer": "café"}', '1], "answer": "café"}'),  # not \\u-escaped
        ('{"memories": ["May"], "answer": "x"}', None),  # not what the grammar admits
        ('{"answer": "x", "memories": [1], "extra": 1}', None),
        ("Lisbon", None),
        ('{"memories": [1], "answer": "x"} trailing', None),
    ],
)
def test_sft_completion_of(text, expected):
    from training.sft import completion_of

    assert completion_of(text) == expected


def test_sft_rows_keep_good_teacher_answers():
    from edgemem.prompts import ANSWER_PREFIX
    from training.sft import sft_rows

    rows = [{"messages": [{"role": "user", "content": f"q{i}"}], "answer": "a"} for i in range(3)]
    targets = [
        {"text": '{"memories": [1], "answer": "a"}', "f1": 1.0},
        {"text": '{"memories": [1], "answer": "b"}', "f1": 0.0},  # wrong: dropped
        {"text": "a", "f1": 1.0},  # right but not the runtime's format: dropped
    ]
    kept = sft_rows(rows, targets, min_f1=0.5)
    assert kept == [
        {
            "messages": [{"role": "user", "content": "q0"}, {"role": "assistant", "content": ANSWER_PREFIX}],
            "completion": '1], "answer": "a"}',
        }
    ]
    assert len(sft_rows(rows, targets, min_f1=0.0)) == 2


def test_plain_answer_rows_train_the_plain_format():
    """Plain-format rows (training.data --answer-format plain): the teacher's first line is the target,
    learnt from a new assistant turn (no forced JSON start), scored as the runtime reads it."""
    from training.data import answer_settings
    from training.grpo import dataset_rows
    from training.sft import sft_rows

    assert answer_settings(DataArgs()) == {"answer_format": "cited", "answer_k": 5, "answer_turns_k": 5}
    assert answer_settings(DataArgs(answer_format="plain")) == {
        "answer_format": "plain",
        "answer_k": MemoryConfig.answer_k,
        "answer_turns_k": MemoryConfig.answer_turns_k,
    }
    assert answer_settings(DataArgs(answer_format="plain", answer_k=0))["answer_k"] == 0
    with pytest.raises(InvalidInput, match="--answer-format 'json'. Fix: one of plain, cited"):
        answer_settings(DataArgs(answer_format="json"))
    msgs = [{"role": "user", "content": "[7 May 2023] Mia: I moved to Lisbon\nWhere did Mia move?"}]
    rows = [{"messages": msgs, "answer": "Lisbon", "n_memories": 1, "answer_format": "plain"}] * 3
    targets = [{"text": "Lisbon", "f1": 1.0}, {"text": "Porto", "f1": 0.0}, {"text": " ", "f1": 1.0}]
    assert sft_rows(rows, targets, min_f1=0.5) == [{"messages": msgs, "completion": "Lisbon"}]
    (row,) = dataset_rows("answer", rows[:1])
    assert row["prompt"] == msgs and row["prefix"] == ""
    assert rewards.answer_f1_plain(["Lisbon.\nShe moved in May.", "", "in Porto"], ["Lisbon"] * 3) == [1.0, 0.0, 0.0]
    assert rewards.ANSWER_REWARDS["f1-plain"] is rewards.answer_f1_plain


@pytest.mark.slow
def test_sft_tokenizes_prompt_and_reply_apart():
    """The training tokens are the ones the runtime sees: the prompt's forced ``[`` stays one token and
    an empty citation list's ``]`` starts the reply (joined text would merge them into ``[]``); the
    loss covers exactly the reply and the end-of-turn token."""
    from transformers import AutoTokenizer

    from edgemem.prompts import ANSWER_PREFIX
    from training.base_model import hf_model_dir
    from training.examples import render_prompt
    from training.sft import tokenize_example

    tok = AutoTokenizer.from_pretrained(hf_model_dir("smollm2-135m"))
    prompt = render_prompt(tok, [{"role": "user", "content": "When?"}, {"role": "assistant", "content": ANSWER_PREFIX}])
    for completion in ('], "answer": "7 May 2023"}', '2, 4], "answer": "Lisbon"}'):
        ex = tokenize_example(tok, prompt, completion)
        prompt_ids = tok(prompt, add_special_tokens=False)["input_ids"]
        n = len(prompt_ids)
        assert ex["input_ids"][:n] == prompt_ids and ex["completion_mask"] == [0] * n + [1] * (len(ex["input_ids"]) - n)
        assert tok.decode(ex["input_ids"][n:]) == completion + tok.eos_token
    joined = tok(prompt + '], "answer": "x"}', add_special_tokens=False)["input_ids"]
    assert joined[: len(prompt_ids)] != prompt_ids  # why the two are tokenized apart


def test_sft_refuses_targets_of_another_teacher(tmp_path):
    from training.sft import SFTArgs, teacher_targets

    (tmp_path / "targets.jsonl").write_text(
        json.dumps({"i": 0, "teacher": "qwen2.5-coder-1.5b", "text": "", "f1": 0}) + "\n"
    )
    with pytest.raises(InvalidInput, match="qwen2.5-coder-1.5b, not smollm2-135m"):
        teacher_targets(SFTArgs(teacher="smollm2-135m"), [{}, {}], tmp_path)


def test_sft_refuses_zero_samples(tmp_path):
    from training.sft import SFTArgs, teacher_targets

    with pytest.raises(InvalidInput, match="--samples 0: .* Fix: pass --samples 1 or more"):
        teacher_targets(SFTArgs(teacher="smollm2-135m", samples=0), [{}], tmp_path)


def test_sft_refuses_targets_of_another_sample_count(tmp_path):
    from training.sft import SFTArgs, teacher_targets

    (tmp_path / "targets.jsonl").write_text(
        json.dumps({"i": 0, "teacher": "smollm2-135m", "samples": 8, "text": "", "f1": 0}) + "\n"
    )
    with pytest.raises(InvalidInput, match="best of 8 answers per prompt, not of 1. Fix: pass --samples 8"):
        teacher_targets(SFTArgs(teacher="smollm2-135m"), [{}, {}], tmp_path)


ROW = {
    "messages": [{"role": "user", "content": "[1] 8 May 2023: went to Lisbon\nWhere did she go?"}],
    "answer": "Lisbon",
}
OTHER_BANK = {"messages": [{"role": "user", "content": "[1] 8 May 2023: moved\nWhere did she go?"}], "answer": "Lisbon"}


@pytest.mark.parametrize(
    "target, row, refused",
    [
        ({"gold": "Lisbon"}, ROW, False),  # targets of before the fingerprint: the gold answer must match
        ({"gold": "Berlin"}, ROW, True),  # another question (a different answerable set)
        ({"gold": "Lisbon", "prompt": "from-row"}, ROW, False),
        ({"gold": "Lisbon", "prompt": "from-row"}, OTHER_BANK, True),  # same question over another bank
    ],
)
def test_sft_reuses_cached_targets_only_for_their_prompts(tmp_path, target, row, refused):
    from training.sft import SFTArgs, prompt_digest, teacher_targets

    if target.get("prompt") == "from-row":
        target = {**target, "prompt": prompt_digest(ROW)}
    line = {"i": 0, "teacher": "smollm2-135m", "text": '{"memories": [1], "answer": "Lisbon"}', "f1": 1.0, **target}
    (tmp_path / "targets.jsonl").write_text(json.dumps(line) + "\n")
    if refused:
        with pytest.raises(
            InvalidInput, match="targets.jsonl line 1 answered another prompt .* Fix: pass another --output-dir"
        ):
            teacher_targets(SFTArgs(teacher="smollm2-135m"), [row], tmp_path)
    else:  # reused as they are: no teacher model is loaded
        assert teacher_targets(SFTArgs(teacher="smollm2-135m"), [row], tmp_path) == [line]


@pytest.mark.slow
def test_sft_smoke(tiny_data, tmp_path):
    """Teacher answers through the real engine (cached: a second run asks the teacher nothing), a LoRA
    trained on the kept ones, greedy validation logged, an adapter that loads onto its base."""
    from peft import PeftModel
    from transformers import AutoModelForCausalLM

    from training import curves, sft

    root, _ = tiny_data
    out = tmp_path / "sft"
    args = sft.SFTArgs(
        data=root / "data",
        teacher="smollm2-135m",
        samples=3,  # best of: greedy + 2 sampled
        min_f1=0.0,
        preset="cpu-smoke",
        output_dir=out,
        limit=4,
        epochs=1,
        grad_accum=2,
        val_every=1,
        val_limit=2,
    )
    adapter = sft.main(args)
    targets = [json.loads(line) for line in (out / "targets.jsonl").read_text().splitlines()]
    assert len(targets) == 4 and all(t["teacher"] == "smollm2-135m" and 0 <= t["f1"] <= 1 for t in targets)
    assert all(t["samples"] == 3 and t["f1"] >= t["greedy_f1"] for t in targets)
    log = json.loads((out / "run_log.json").read_text())
    kept = log["config"]["examples"]
    assert kept == sum(sft.completion_of(t["text"]) is not None for t in targets) > 0
    assert [s["step"] for s in log["steps"] if "loss" in s] == list(range(1, (kept + 1) // 2 + 1))
    assert any("val_reward" in s for s in log["steps"])
    # no reward in an SFT log: the curves show its loss (and the validation reward)
    series = curves.curves(log)
    assert series["train"] == [] and [s for s, _ in series["loss"]] == list(range(1, (kept + 1) // 2 + 1))
    assert curves.main([str(out), "--out", str(tmp_path / "sft.png")]).stat().st_size > 5000
    meta = json.loads((out / "edgemem_adapter.json").read_text())
    assert meta["method"] == "sft" and meta["agent"] == "answer"
    model = PeftModel.from_pretrained(AutoModelForCausalLM.from_pretrained(meta["model_dir"]), str(adapter))
    assert any("lora" in n for n, _ in model.named_parameters())
    with (out / "targets.jsonl").open("a") as f:  # a line cut short when a run was killed is dropped
        f.write('{"i": 4, "teach')
    # cached: the same targets again without loading the teacher
    assert sft.teacher_targets(args, load_jsonl(root / "data" / "answer_train.jsonl")[:4], out) == targets
    assert len((out / "targets.jsonl").read_text().splitlines()) == 4

    # RL continues from the SFT adapter (TRL keeps a frozen copy as the KL reference)
    from safetensors.torch import load_file

    from training import grpo

    rl = grpo.main(
        grpo.GRPOArgs(
            agent="answer",
            data=root / "data",
            output_dir=tmp_path / "rl",
            limit=4,
            max_steps=1,
            beta=0.04,
            init_adapter=adapter,
        )
    )
    rl_log = json.loads((rl.parent / "run_log.json").read_text())
    assert rl_log["config"]["init_adapter"] == str(adapter)
    assert [s["step"] for s in rl_log["steps"] if "reward" in s] == [1]
    before, after = load_file(adapter / "adapter_model.safetensors"), load_file(rl / "adapter_model.safetensors")
    b_keys = [k for k in before if "lora_B" in k]
    assert b_keys and set(b_keys) <= set(after)
    # a fresh LoRA starts with B = 0; after one small step it would still be far from the SFT weights
    for k in b_keys:
        assert (after[k].float() - before[k].float()).abs().max() < 0.5 * before[k].float().abs().max() + 1e-6, k


def test_micro_batch_is_checked(tmp_path):
    """PPO splits a step's rollouts into passes of --micro-batch sequences: it must divide them; GRPO refuses it."""
    from training import grpo, ppo

    with pytest.raises(InvalidInput, match="--micro-batch 3: must divide the 4 rollouts"):
        ppo.main(ppo.PPOArgs(agent="answer", data=tmp_path, output_dir=tmp_path / "rl", micro_batch=3))
    with pytest.raises(InvalidInput, match="--micro-batch 0"):
        ppo.main(ppo.PPOArgs(agent="answer", data=tmp_path, output_dir=tmp_path / "rl", micro_batch=0))
    with pytest.raises(InvalidInput, match="PPO setting"):
        grpo.main(grpo.GRPOArgs(agent="answer", data=tmp_path, output_dir=tmp_path / "rl", micro_batch=2))


def test_reward_scaling_and_price_are_checked(tmp_path):
    """--scale-rewards takes TRL's names and is GRPO's; --add-cost prices the manager rewards with a price only,
    and never below zero. All refused before any model loads."""
    from training import grpo, ppo

    args = {"data": tmp_path, "output_dir": tmp_path / "rl"}
    with pytest.raises(
        InvalidInput, match="--scale-rewards 'std' is not a normalisation TRL knows. Fix: one of group, batch, none"
    ):
        grpo.main(grpo.GRPOArgs(agent="answer", scale_rewards="std", **args))
    with pytest.raises(InvalidInput, match="--scale-rewards 'none' is a GRPO setting"):
        ppo.main(ppo.PPOArgs(agent="answer", scale_rewards="none", **args))
    with pytest.raises(
        InvalidInput,
        match="--add-cost 0.02 prices the manager's ADDs under --reward f1-budget, f1-strict, f1-probes only",
    ):
        grpo.main(grpo.GRPOArgs(agent="manager", reward="f1-accepted", add_cost=0.02, **args))
    with pytest.raises(InvalidInput, match="not the answer agent's 'f1'"):
        ppo.main(ppo.PPOArgs(agent="answer", reward="f1", add_cost=0.02, **args))
    with pytest.raises(InvalidInput, match="--add-cost -0.1: a price cannot be negative"):
        grpo.main(grpo.GRPOArgs(agent="manager", reward="f1-budget", add_cost=-0.1, **args))


def test_ppo_refuses_grpo_only_settings(tmp_path):
    """Settings TRL's PPO loop cannot honour are refused, not silently dropped."""
    from training import ppo

    with pytest.raises(InvalidInput, match="--val-every is a GRPO setting"):
        ppo.main(ppo.PPOArgs(agent="answer", data=tmp_path, output_dir=tmp_path / "rl", val_every=5))


@pytest.mark.parametrize(
    "beta,preset,expected",
    [(None, "cpu-0.5b", 0.05), (0.04, "cpu-0.5b", 0.04), (0.0, "cpu-0.5b", 0.0), (None, "qwen2.5-3b", 0.04)],
)
def test_ppo_kl_coefficient(beta, preset, expected):
    """--beta sets PPO's KL coefficient (it was once ignored); without it the preset's, or TRL's 0.05
    where the preset has none."""
    from training import ppo
    from training.presets import get_preset

    assert ppo.kl_coef(ppo.PPOArgs(beta=beta), get_preset(preset)) == expected


def test_init_adapter_is_checked(tmp_path):
    from training import grpo, ppo

    adapter = tmp_path / "sft" / "adapter"
    with pytest.raises(InvalidInput, match="is not a trained adapter"):
        grpo.main(grpo.GRPOArgs(agent="answer", data=tmp_path, output_dir=tmp_path / "rl", init_adapter=adapter))
    adapter.mkdir(parents=True)
    (adapter / "adapter_config.json").write_text("{}")
    meta = {"agent": "answer", "base_model": "qwen2.5-coder-0.5b"}
    (adapter.parent / "edgemem_adapter.json").write_text(json.dumps(meta))
    with pytest.raises(
        InvalidInput, match="answer agent on qwen2.5-coder-0.5b, this run trains the manager agent on smollm2-135m"
    ):
        grpo.main(grpo.GRPOArgs(agent="manager", data=tmp_path, output_dir=tmp_path / "rl", init_adapter=adapter))
    with pytest.raises(InvalidInput, match="GRPO only"):
        ppo.main(ppo.PPOArgs(agent="answer", data=tmp_path, output_dir=tmp_path / "rl", init_adapter=adapter))


@pytest.mark.parametrize(
    "answer,lines,cited",
    [
        ("Berlin", ["[1] 9 May, 2023: Rome trip", "[2] 9 May, 2023: moved to Berlin"], [2]),
        ("7 May 2023", ["[1] 7 May, 2023: ran a race", "[2] 8 May, 2023: race on May 7"], [2]),  # not the timestamp
        ("the Berlin marathon", ["[1] t: went to the park"], []),  # filler words cite nothing
        ("pottery", [f"[{n}] t: pottery class {n}" for n in range(1, 8)], [1, 2, 3, 4, 5]),  # at most 5
        ("Lisbon", ["[1] Jon: I flew to Lisbon"], [1]),  # a raw turn "[n] Speaker: text"
    ],
)
def test_sft_gold_reply(answer, lines, cited):
    from training.sft import completion_of, gold_reply

    row = {
        "answer": answer,
        "messages": [{"role": "system", "content": "[9] x: Berlin"}, {"role": "user", "content": "\n".join(lines)}],
    }
    reply = gold_reply(row)
    assert json.loads(reply) == {"memories": cited, "answer": answer}
    assert completion_of(reply) is not None  # a valid target


def probe_example(**over):
    """Sam's bank holds where Sam lives and what Sam drinks; the probes are two other questions."""
    bank = [
        {"id": 7, "speaker": "Sam", "text": "Sam lives in Oslo", "time": "1 May"},
        {"id": 8, "speaker": "Sam", "text": "Sam drinks green tea every morning", "time": "1 May"},
    ]
    probes = [
        {"question": "Which city was Sam's home in May?", "answer": "Oslo"},
        {"question": "What does Sam drink in the morning?", "answer": "green tea"},
        {"question": "Which pet does Sam have?", "answer": "a parrot"},
    ]
    return manager_example(bank=bank, shown=[7, 8], probes=probes, **over)


PROBES = [
    # operations, (probes made answerable, probes made unanswerable); 30 memories per speaker are read
    ([{"event": "NOOP", "id": "0"}], (0, 0)),
    # overwriting Oslo loses the question whose gold is Oslo
    ([{"event": "UPDATE", "id": "0", "text": "Sam lives in Rome"}], (0, 1)),
    ([{"event": "DELETE", "id": "0"}], (0, 1)),
    # the planner refuses a DELETE unrelated to the turn's fact: nothing lost
    ([{"event": "DELETE", "id": "1"}], (0, 0)),
    # a new fact holding another question's gold word makes it answerable
    ([{"event": "ADD", "text": "Sam got a parrot called Kiwi"}], (1, 0)),
    ([{"event": "ADD", "text": "Sam moved to Rome"}], (0, 0)),
]


@pytest.mark.parametrize("ops,flips", PROBES)
def test_probe_flips(embedder, ops, flips):
    reward = rewards.ManagerOutcomeReward(None, embedder, CITED, rewards.MANAGER_REWARDS["f1-probes"])
    ex = probe_example()
    edited = reward.edit(json.dumps({"memory": ops}), ex)
    assert edited is not None
    store, _ = edited
    try:
        assert reward.probe_flips(ex, store) == flips
    finally:
        store.close()


def test_probe_flips_see_crowding(embedder):
    """With one memory per speaker read, an ADD nearer a probe question than its evidence pushes the
    evidence out of retrieval: the probe is lost although nothing was deleted."""
    reward = rewards.ManagerOutcomeReward(
        None, embedder, MemoryConfig(answer_format="cited", answer_k=1), rewards.MANAGER_REWARDS["f1-probes"]
    )
    ex = probe_example()
    crowd = {"event": "ADD", "text": "In the morning Sam likes to drink something warm"}
    store, _ = reward.edit(json.dumps({"memory": [crowd]}), ex)
    try:
        assert reward.probe_flips(ex, store) == (0, 1)
    finally:
        store.close()


def test_manager_reward_adds_the_probe_flips(embedder):
    """f1-probes = f1-strict + 0.25 x (probes gained - probes lost); examples without probes are refused."""
    reward = rewards.ManagerOutcomeReward(LivesInEngine(), embedder, CITED, rewards.MANAGER_REWARDS["f1-probes"])
    assert reward.__name__ == "manager_outcome_f1_budget_strict_probes"
    update = {"event": "UPDATE", "id": "0", "text": "Sam lives in Rome"}
    # the right edit for its own question (1.0) loses the Oslo probe
    assert reward.score(json.dumps({"memory": [update]}), probe_example()) == pytest.approx(0.75)
    parrot = {"event": "ADD", "text": "Sam got a parrot called Kiwi"}
    assert reward.score(json.dumps({"memory": [update, parrot]}), probe_example()) == pytest.approx(0.9)
    with pytest.raises(InvalidInput, match="no 'probes' column.*--probes-only"):
        reward.score(json.dumps({"memory": [update]}), manager_example(id="no-probes"))


def test_manager_examples_carry_probe_questions(locomo_data, tmp_path):
    """Each manager example lists the other questions whose evidence all came by its turn (the probes of
    f1-probes); --probes-only adds the same column to files built without it, with no model call."""
    out, _, _ = locomo_data
    rows = load_jsonl(out / "manager_train.jsonl")
    raw = {c["sample_id"]: c for c in json.loads(LOCOMO.read_text())}["conv-26"]
    qas = [q for q in raw["qa"] if q["category"] != 5]
    order = {
        t["dia_id"]: i
        for s in range(1, 40)
        for i, t in enumerate(raw["conversation"].get(f"session_{s}", []), s * 1000)
    }
    assert rows and any(r["probes"] for r in rows)
    for r in rows:
        here = order[r["turn"]["key"]]
        expected = [
            q["question"]
            for q in qas
            if q["question"] != r["question"]
            and q["evidence"]
            and all(order.get(e, 10**9) <= here for e in q["evidence"])
        ]
        assert [p["question"] for p in r["probes"]] == expected
        assert all(isinstance(p["answer"], str) for p in r["probes"])
    stripped = tmp_path / "old"
    for split in ("train", "val"):
        old = [{k: v for k, v in r.items() if k != "probes"} for r in load_jsonl(out / f"manager_{split}.jsonl")]
        write_jsonl(stripped / f"manager_{split}.jsonl", old)
    counts = build_data(DataArgs(data=LOCOMO, out=stripped, probes_only=True))
    assert load_jsonl(stripped / "manager_train.jsonl") == rows
    assert counts["manager_train"] == sum(len(r["probes"]) for r in rows)
    with pytest.raises(InvalidInput, match="manager_train.jsonl does not exist"):
        build_data(DataArgs(data=LOCOMO, out=tmp_path / "none", probes_only=True))


def test_a_setting_on_by_default_is_turned_off_with_no_flag():
    from training.data import DataArgs
    from training.settings import settings_parser

    parse = settings_parser(DataArgs, "").parse_args
    assert parse([]).admission_gate is True and parse(["--no-admission-gate"]).admission_gate is False
    assert parse([]).evidence_in_bank is False and parse(["--evidence-in-bank"]).evidence_in_bank is True
