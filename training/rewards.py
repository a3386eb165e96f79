"""Rewards for both agents, TRL-style: ``(completions, **columns) -> list[float]``.

Outcome-driven as in Memory-R1: the reward is the exact match of a final answer.

- Answer Agent: parse the completion with the runtime's parser; exact match against the gold answer
  (token-set F1 optional). Unparseable output scores 0.
- Memory Manager: parse the sampled operations with the runtime's parser, apply them with the
  runtime's planner to a copy of the bank as it was before the turn, let a frozen answer agent answer
  the linked question over the edited bank, and score that answer by exact match. Output that does
  not parse scores 0.
"""

from __future__ import annotations

import json
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any

from edgemem.errors import InvalidInput, ModelOutputError
from edgemem.metrics import exact_match, f1
from edgemem.parsing import parse_answer, parse_operations
from edgemem.prompts import MAX_ANSWER_CHARS, MAX_CITED, first_line


def completion_text(completion: Any) -> str:
    """TRL passes plain strings, or for chat datasets a list of messages."""
    if isinstance(completion, list):
        return "".join(m.get("content", "") for m in completion if isinstance(m, dict))
    return str(completion)


def _answer_scores(
    completions: list[Any],
    answer: list[str],
    n_memories: list[int],
    prefix: list[str] | None,
    score: Callable[[str, str], float],
) -> list[float]:
    out = []
    prefixes = prefix or [""] * len(completions)
    for c, gold, n, pre in zip(completions, answer, n_memories, prefixes, strict=True):
        try:
            pred = parse_answer(pre + completion_text(c), int(n)).answer
        except ModelOutputError:
            out.append(0.0)
            continue
        out.append(score(pred, str(gold)))
    return out


def answer_exact_match(
    completions: list[Any], answer: list[str], n_memories: list[int], prefix: list[str] | None = None, **_: Any
) -> list[float]:
    """1.0 when the parsed answer equals the gold answer after normalisation. ``prefix``: text the
    prompt already put at the start of the completion (``edgemem.prompts.ANSWER_PREFIX``).

    >>> answer_exact_match(['{"memories": [1], "answer": "Lisbon."}', 'nonsense'], ["lisbon", "x"], [3, 3])
    [1.0, 0.0]
    >>> answer_exact_match(['1], "answer": "Lisbon"}'], ["lisbon"], [3], prefix=['{"memories": ['])
    [1.0]
    """
    return _answer_scores(completions, answer, n_memories, prefix, exact_match)


def answer_f1(
    completions: list[Any], answer: list[str], n_memories: list[int], prefix: list[str] | None = None, **_: Any
) -> list[float]:
    """Token-set F1 of the parsed answer (a denser signal than exact match)."""
    return _answer_scores(completions, answer, n_memories, prefix, f1)


def answer_f1_json(
    completions: list[Any], answer: list[str], n_memories: list[int], prefix: list[str] | None = None, **_: Any
) -> list[float]:
    """Token-set F1, but 0 for output the runtime's answer grammar could not have produced: anything
    but one JSON object of the answer schema (a list of at most 5 memory numbers and a short answer).

    >>> answer_f1_json(['{"memories": [2], "answer": "Lisbon"}', '{"memories": ["2 May"], "answer": "Lisbon"}'], ["Lisbon"] * 2, [3, 3])
    [1.0, 0.0]
    """
    prefixes = prefix or [""] * len(completions)
    scores = _answer_scores(completions, answer, n_memories, prefix, f1)
    return [
        s if schema_valid(p + completion_text(c)) else 0.0
        for s, p, c in zip(scores, prefixes, completions, strict=True)
    ]


def answer_f1_plain(
    completions: list[Any],
    answer: list[str],
    n_memories: list[int] | None = None,
    prefix: list[str] | None = None,
    **_: Any,
) -> list[float]:
    """Token-set F1 of a plain answer: the first line of the reply, as the runtime reads it
    (``MemoryConfig.answer_format="plain"``). ``n_memories`` is not read (no cited numbers): the
    answer rewards share one signature.

    >>> answer_f1_plain(["Lisbon.\\nShe moved there in May.", ""], ["Lisbon", "Porto"])
    [1.0, 0.0]
    """
    prefixes = prefix or [""] * len(completions)
    return [
        f1(first_line(p + completion_text(c)), str(gold))
        for c, gold, p in zip(completions, answer, prefixes, strict=True)
    ]


def schema_valid(text: str) -> bool:
    """Whether ``text`` is exactly one JSON object of ``ANSWER_SCHEMA_BASE`` (what the grammar admits)."""
    try:
        obj = json.loads(text)
    except ValueError:
        return False
    if not isinstance(obj, dict) or set(obj) != {"memories", "answer"}:
        return False
    mems, ans = obj["memories"], obj["answer"]
    return (
        isinstance(mems, list)
        and len(mems) <= MAX_CITED
        and all(isinstance(m, int) and not isinstance(m, bool) for m in mems)
        and isinstance(ans, str)
        and 1 <= len(ans) <= MAX_ANSWER_CHARS
    )


def manager_valid_json(completions: list[Any], shown: list[list[int]], facts: list[list[str]], **_: Any) -> list[float]:
    """The fraction of the manager's entries that are valid operations (0 when nothing parses)."""
    out = []
    for c, ids, fs in zip(completions, shown, facts, strict=True):
        try:
            parsed = parse_operations(completion_text(c), len(ids), fs)
        except ModelOutputError:
            out.append(0.0)
            continue
        total = len(parsed.ops) + len(parsed.rejected)
        out.append(len(parsed.ops) / total if total else 0.0)
    return out


@dataclass(frozen=True)
class ManagerReward:
    """The settings of a manager reward (the arguments of ``ManagerOutcomeReward`` after the components)."""

    metric: Callable[[str, str], float]  # scores the frozen answerer's answer
    accepted_share: bool = False  # times the share of operations the planner accepted
    add_cost: float = 0.0  # minus this x memories ADDed / facts
    reject_cost: float = 0.0  # minus this x the share of operations the planner rejected
    # plus this x (probe questions the operations made answerable - those they made unanswerable): see
    # ManagerOutcomeReward.probe_flips
    probe_gain: float = 0.0
    # replay the example's next turns through the untrained manager, then score the mean answer over its
    # question and the window's (ManagerOutcomeReward.replay_window; training.data --window)
    window: bool = False


class ManagerOutcomeReward:
    """Exact match (or token-set F1) of a frozen answer agent over the bank the sampled operations produced.

    Args:
        engine: the frozen answer agent's model (an ``edgemem.engine.Engine``; on CPU a LlamaEngine).
        embedder: the runtime's embedder.
        config: the runtime's MemoryConfig (guards and k as deployed).
        reward: how the answer and the operations are scored (``ManagerReward``; Memory-R1's is the
            answer's exact match).
    """

    def __init__(self, engine: Any, embedder: Any, config: Any, reward: ManagerReward | None = None) -> None:
        reward = reward or ManagerReward(exact_match)
        self.embedder, self.config, self.metric = embedder, config, reward.metric
        # Greedy calls with the same prompt give the same text: the completions of a group that leave
        # the answer's memories (or a window turn's related memories) alike share one call.
        self.engine = RememberedEngine(engine)
        # times the share of the output's operations the runtime's planner accepted: without it a
        # rejected operation (a guarded DELETE, an unknown id) costs nothing, and GRPO learned to
        # write them (experiments/manager-grpo-f1: rejected operations 3 % -> 15 % in 10 steps)
        self.accepted_share = reward.accepted_share
        # The training examples are the turns that hold a question's evidence, so storing every fact of
        # such a turn never lowers the outcome, and GRPO learned to ADD everything, small talk included
        # (experiments/manager-grpo-accepted: 267 memories vs the untrained 105 on conv-30 s1-6, a superset;
        # experiments/manager-grpo-budget/bank-compare).
        # A price per ADD (relative to the turn's facts) makes storing a fact worth it only if it helps.
        self.add_cost = reward.add_cost
        # Multiplied by the accepted share, a rejected operation costs nothing when the answer is wrong
        # anyway, and with a price on ADDs the manager learned rejected DELETEs (experiments/manager-grpo-distractors: 9-14 % of
        # its operations). Subtracted, it costs in every example.
        self.reject_cost = reward.reject_cost
        # An example is linked to one question, so the memories its ADDs push out of the other questions'
        # retrieval never cost anything: a manager trained so stored every fact, and over a whole
        # conversation (797 memories) the answers got worse (experiments/manager-grpo-strict). The probes price that.
        self.probe_gain = reward.probe_gain
        self.window = reward.window
        # TRL names the logged reward after it
        self.__name__ = (
            f"manager_outcome_{self.metric.__name__}"
            + ("_accepted" if self.accepted_share else "")
            + ("_budget" if self.add_cost else "")
            + ("_strict" if self.reject_cost else "")
            + ("_probes" if self.probe_gain else "")
            + ("_window" if self.window else "")
        )
        self._templates: dict[str, Any] = {}  # example id -> in-memory store of the bank snapshot
        self._fact_vectors: dict[str, Any] = {}  # example id -> its facts' vectors (the same for every completion)
        self.cache: dict[tuple[str, str], float] = {}  # (example id, completion) -> reward
        self._question_vectors: dict[str, Any] = {}  # probe question -> its vector
        self._probes_before: dict[str, set[int]] = {}  # example id -> answerable probes over the bank as it was

    COLUMNS = (
        "id",
        "user",
        "turn",
        "facts",
        "bank",
        "shown",
        "question",
        "answer",
        "probes",
        "window",
        "window_questions",
    )

    def __call__(self, completions: list[Any], prefix: list[str] | None = None, **columns: Any) -> list[float]:
        # TRL also passes prompts, trainer_state, ...: read only the example's own columns. ``prefix``:
        # text the prompt already put at the start of the completion (``edgemem.prompts.MANAGER_PREFIX``).
        rows = [{k: columns[k][i] for k in self.COLUMNS if k in columns} for i in range(len(completions))]
        prefixes = prefix or [""] * len(completions)
        return [
            self.score(pre + completion_text(c), row) for c, pre, row in zip(completions, prefixes, rows, strict=True)
        ]

    def score(self, text: str, ex: dict[str, Any]) -> float:
        key = (ex["id"], text)
        if key not in self.cache:
            self.cache[key] = self._score(text, ex)
        return self.cache[key]

    def _score(self, text: str, ex: dict[str, Any]) -> float:
        from edgemem.answer import AnswerAgent

        edited = self.edit(text, ex)
        if edited is None:
            return 0.0
        store, planned = edited
        try:
            questions = [(ex["question"], str(ex["answer"]))]
            if self.window:
                self.replay_window(ex, store)
                questions += [(q["question"], q["answer"]) for q in ex["window_questions"]]
            agent = AnswerAgent(self.engine, self.embedder, store, self.config)
            score = sum(self.metric(agent.answer(ex["user"], q).answer, a) for q, a in questions) / len(questions)
            if self.accepted_share:
                score *= sum(op.op != "REJECTED" for op in planned) / len(planned) if planned else 0.0
            if self.add_cost:
                score -= self.add_cost * sum(op.op == "ADD" for op in planned) / max(1, len(ex["facts"]))
            if self.reject_cost and planned:
                score -= self.reject_cost * sum(op.op == "REJECTED" for op in planned) / len(planned)
            if self.probe_gain:
                gained, lost = self.probe_flips(ex, store)
                score += self.probe_gain * (gained - lost)
            return score
        finally:
            store.close()

    def edit(self, text: str, ex: dict[str, Any]) -> tuple[Any, list[Any]] | None:
        """A copy of the example's bank with the operations of ``text`` applied by the runtime's planner,
        and the planned operations; None when ``text`` does not parse. The caller closes the store."""
        from edgemem.manager import ManagerStep, MemoryManager
        from edgemem.store import SearchHit, Store, Turn

        try:
            parsed = parse_operations(text, len(ex["shown"]), ex["facts"])
        except ModelOutputError:
            return None
        store = Store(None)
        try:
            self._template(ex).conn.backup(store.conn)
            by_id = {m["id"]: m for m in ex["bank"]}
            shown = [SearchHit(i, by_id[i]["speaker"], by_id[i]["text"], by_id[i]["time"], 1.0) for i in ex["shown"]]
            step = ManagerStep(ex["facts"], shown, ex.get("messages", []), ex.get("schema"))
            manager = MemoryManager(self.engine, self.embedder, store, self.config)
            if ex["id"] not in self._fact_vectors:
                self._fact_vectors[ex["id"]] = self.embedder.embed(ex["facts"])
            planned = manager.plan(step, parsed, self._fact_vectors[ex["id"]])
            store.apply_turn(ex["user"], Turn(**ex["turn"]), None, planned, ex["facts"])
        except BaseException:
            store.close()
            raise
        return store, planned

    def replay_window(self, ex: dict[str, Any], store: Any) -> None:
        """Apply the example's next turns (``training.data.window_columns``) to ``store`` as the runtime
        would: the untrained manager (the engine's base model; its facts are the bank's, so no extraction
        call) decides each against the memories the sampled operations left, and its operations are applied."""
        from edgemem.manager import Extraction, MemoryManager
        from edgemem.store import Turn

        if "window" not in ex:
            raise InvalidInput(
                f"Example {ex['id']} has no 'window' column, which this reward reads. "
                "Fix: python -m training.data --agents manager --window 8 (or another count of turns)."
            )
        manager = MemoryManager(self.engine, self.embedder, store, self.config)
        for step in ex["window"]:
            turn = Turn(**step["turn"])
            decision = manager.decide(ex["user"], turn, extraction=Extraction(list(step["facts"])))
            assert decision is not None  # only a stop request abandons a turn
            store.apply_turn(ex["user"], turn, None, decision.planned, decision.result.facts)

    def probe_flips(self, ex: dict[str, Any], store: Any) -> tuple[int, int]:
        """How many of the example's probe questions (``training.data.probe_questions``) the operations
        made answerable and how many unanswerable. Answerable: a content word of the gold answer is in
        the memories the answer agent would retrieve for it (``config.answer_k`` per speaker), the rule
        of ``training.examples.answerable`` without an LLM call, so every probe is cheap."""
        probes = ex.get("probes")
        if probes is None:
            raise InvalidInput(
                f"Example {ex['id']} has no 'probes' column, which this reward reads. "
                "Fix: python -m training.data --probes-only --out <the data directory>."
            )
        if ex["id"] not in self._probes_before:
            self._probes_before[ex["id"]] = self._answerable(ex, probes, self._template(ex))
        before, after = self._probes_before[ex["id"]], self._answerable(ex, probes, store)
        return len(after - before), len(before - after)

    def _answerable(self, ex: dict[str, Any], probes: list[dict[str, str]], store: Any) -> set[int]:
        from edgemem.metrics import content_words, words

        new = [p["question"] for p in probes if p["question"] not in self._question_vectors]
        if new:
            self._question_vectors.update(zip(new, self.embedder.embed(new), strict=True))
        speakers = store.speakers(ex["user"])
        out = set()
        for i, p in enumerate(probes):
            vector = self._question_vectors[p["question"]]
            texts = [
                h.text for s in speakers for h in store.search(ex["user"], vector, self.config.answer_k, speaker=s)
            ]
            if content_words(p["answer"]) & words(" ".join(texts)):
                out.add(i)
        return out

    def _template(self, ex: dict[str, Any]) -> Any:
        if ex["id"] not in self._templates:
            from edgemem.store import Store

            store = Store(None)
            bank = ex["bank"]
            vectors = self.embedder.embed([m["text"] for m in bank])
            store.restore_bank(ex["user"], [(m["id"], m["speaker"], m["text"], m["time"]) for m in bank], vectors)
            # The raw turns the manager's bank came from are not needed: the answer agent reads memories.
            self._templates[ex["id"]] = store
        return self._templates[ex["id"]]


class RememberedEngine:
    """An engine whose greedy completions are kept by prompt and settings, so a repeated call costs
    nothing (sampled ones always go to the model). Everything else is the wrapped engine's. At most
    ``limit`` completions are kept, the least recently used dropped first: a long GPU run scores
    many thousands of prompts, and only the recent ones (the same example's group) repeat."""

    def __init__(self, engine: Any, limit: int = 4096) -> None:
        self.wrapped = engine
        self.limit = limit
        self.kept: OrderedDict[str, Any] = OrderedDict()
        self.calls = 0  # completions the wrapped engine made for greedy calls

    def complete(self, messages: Any, **kwargs: Any) -> Any:
        if kwargs.get("temperature", 0.0) != 0.0 or kwargs.get("on_text") is not None:
            return self.wrapped.complete(messages, **kwargs)
        key = json.dumps([messages, kwargs], sort_keys=True, default=str)
        if key in self.kept:
            self.kept.move_to_end(key)
            return self.kept[key]
        self.calls += 1
        self.kept[key] = result = self.wrapped.complete(messages, **kwargs)
        if len(self.kept) > self.limit:
            self.kept.popitem(last=False)
        return result

    def __getattr__(self, name: str) -> Any:
        return getattr(self.wrapped, name)


# the rewards by --reward name. The manager's scores its frozen answerer's answer (that answerer is
# grammar-constrained, so "f1-json" would be "f1"). add_cost 0.1: ADDing all of a turn's facts costs as
# much as a tenth of a correct answer. Under TRL's default group scaling a group whose answers tie is
# decided by the price alone, at full size: the manager learned to NOOP every fact (experiments/manager-grpo-budget). Train
# with --scale-rewards none (experiments/manager-grpo-distractors: banks of the untrained manager's size, but rejected DELETEs,
# which f1-strict prices: 0.5 x the rejected share, so an all-rejected output scores -0.5). f1-probes adds
# 0.25 per probe question gained or lost: about what answerability is worth to the round-2 answer agent
# (its F1 on conv-30's answerable questions minus the unanswerable ones: 35.0 - 9.0; experiments/answer-ceiling).
# f1-window scores the example's question and those of the turns after it, replayed by the untrained
# manager over the bank the sampled operations left (no price per ADD: what storing costs later turns
# and questions is in the outcome; rejected operations still cost, as in f1-strict).
ANSWER_REWARDS = {
    "em": answer_exact_match,
    "f1": answer_f1,
    "f1-json": answer_f1_json,
    "f1-plain": answer_f1_plain,
}
MANAGER_REWARDS = {
    "em": ManagerReward(exact_match),
    "f1": ManagerReward(f1),
    "f1-accepted": ManagerReward(f1, accepted_share=True),
    "f1-budget": ManagerReward(f1, accepted_share=True, add_cost=0.1),
    "f1-strict": ManagerReward(f1, add_cost=0.1, reject_cost=0.5),
    "f1-probes": ManagerReward(f1, add_cost=0.1, reject_cost=0.5, probe_gain=0.25),
    "f1-window": ManagerReward(f1, reject_cost=0.5, window=True),
}


def frozen_answerer_reward(
    model: str,
    threads: int = 1,
    gpu_layers: int = 0,
    answer_k: int = 30,
    metric: str = "em",
    add_cost: float | None = None,
) -> ManagerOutcomeReward:
    """The manager's reward with a llama.cpp answer agent on ``model`` (registry name, .gguf, or the
    manifest of an exported answer agent: Memory-R1 trains the manager against the trained answerer),
    reading ``answer_k`` memories per speaker. ``add_cost``: another price per ADD than the reward's."""
    from edgemem import MemoryConfig
    from edgemem.embedder import Embedder
    from edgemem.engine import LlamaEngine
    from edgemem.manifest import served_model

    if metric not in MANAGER_REWARDS:
        raise InvalidInput(
            f"The manager's reward cannot be {metric!r}. Fix: --reward {', '.join(MANAGER_REWARDS)} (one of them)."
        )
    served = served_model(model)
    engine = LlamaEngine(served.model, threads=threads, gpu_layers=gpu_layers, adapters=dict(served.adapters))
    # the frozen answerer reads memories only, found by vectors: the setting every manager reward so far was
    # measured with (the runtime's defaults moved on: raw turns, hybrid search, abstaining on unmentioned words)
    config = MemoryConfig(
        answer_format="cited", answer_k=answer_k, answer_turns_k=0, search="dense", abstain_unmentioned=False
    )
    reward = MANAGER_REWARDS[metric] if add_cost is None else replace(MANAGER_REWARDS[metric], add_cost=add_cost)
    return ManagerOutcomeReward(engine, Embedder(threads=1), config, reward)


def run_manager_reward(args: Any) -> ManagerOutcomeReward:
    """The manager reward of a GRPO or PPO run (``training.settings.RunArgs``)."""
    return frozen_answerer_reward(
        args.answerer_model,
        args.answerer_threads,
        args.answerer_gpu_layers,
        args.answerer_k,
        args.reward,
        args.add_cost,
    )
