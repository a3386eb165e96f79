"""Settings of a memory store, as one dataclass. The CLI flags and the server map onto these fields."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from .errors import InvalidInput

SEARCH_MODES = ("hybrid", "dense")
ANSWER_CONTEXTS = ("per-speaker", "budget")
ANSWER_FORMATS = ("plain", "cited")
# The agents a LoRA adapter can serve. The answer agent has one adapter per answer format: a LoRA learns
# one format's prompt and reply, so a cited adapter is not applied to plain answers, nor the other way round.
ANSWER_ADAPTERS = {"cited": "answer", "plain": "answer-plain"}
AGENTS = ("manager", *ANSWER_ADAPTERS.values())
MAX_EXTRACT_BATCH = 8  # messages per extraction call (the reply grows with each: 8 x 5 facts fill ~2.5k tokens)


@dataclass
class MemoryConfig:
    model: str | None = None  # a registry name (`edgemem models`), a .gguf path, an export manifest.json, or None
    n_ctx: int = 4096  # context window of the llama.cpp model
    threads: int | None = None  # llama.cpp threads for generation and prompt reading (None: up to 4)
    embed_threads: int = 1  # onnxruntime threads for the embedder
    # llama.cpp threads of background consolidation calls (None: ``threads``). Fewer leave a core to the
    # app's own work (an ``add`` embeds its message) while the queue is consolidated.
    background_threads: int | None = None
    constrained: bool = True  # JSON-schema constrained decoding for extraction, manager and answer
    # GGUF LoRA adapters per agent (AGENTS: "manager", "answer", "answer-plain" -> path). None: the trained adapters installed for the
    # model (edgemem.models.SHIPPED_ADAPTERS, make answer-agent), or a manifest's; {} turns them off; a dict
    # names its own (on top of a manifest's).
    adapters: dict[str, str] | None = None
    # Memory Manager (Memory-R1: top 5 related memories per fact)
    manager_k: int = 5
    # The previous message shown to fact extraction as context (Memory-R1 extracts from message pairs).
    # Off by default: small untrained models then attribute the other speaker's facts to the writer.
    context_messages: int = 0
    max_deletes_per_turn: int = 3  # a turn saying "delete everything" cannot wipe the bank at once
    # An UPDATE must rewrite a memory about the same thing, a DELETE must name the memory its fact is
    # about: below this cosine similarity an UPDATE becomes an ADD and a DELETE is rejected, so an
    # untrained model's wrong choice cannot overwrite unrelated memories. 0 turns the guard off.
    relatedness_guard: float = 0.6
    # Facts with no memory of the speaker at or above relatedness_guard can only be ADDed (the guard turns
    # an UPDATE into an ADD and rejects a DELETE), so on: they are ADDed without asking the manager, and a
    # message whose facts are all new makes one model call instead of two. Off until measured on conv-30.
    manager_only_when_related: bool = False
    # The manager's ADD names no text and stores its fact as written (operations come one per fact, in
    # order): the model does not write each new fact a second time.
    manager_add_by_number: bool = False
    # The untrained manager often shifts its operation list (one operation per fact, in order) by one: an
    # extra NOOP, then the ADD of a fact written one slot late, and the last fact falls off the list. A
    # fact whose slot wrote another fact of the turn, and that no operation wrote, is then ADDed as
    # extracted; a second ADD of a text already written in the turn is a NOOP.
    manager_keep_shifted_facts: bool = False
    # The manager replies in lines, one per fact ("ADD", "UPDATE 0 <text>", "DELETE 1", "NOOP 2"), not JSON:
    # an ADD stores its fact as written, and a line costs a few tokens where a JSON entry costs 10-25, so a
    # message costs far fewer generated tokens. A fact with no memory of its speaker to compare with needs
    # no manager call at all (ADD is then the only line allowed). Supersedes manager_add_by_number.
    manager_lines: bool = False
    # Messages with no first-person word and under 20 words (reactions, questions to the other speaker)
    # skip fact extraction: no model call, the raw turn stays searchable (edgemem/admission.py). On by
    # measurement: on conv-30 sessions 1-6 a fifth fewer model calls, F1 +1.4 (-5.1 to +8.8)
    # (experiments/admission-gate-conv30).
    admission_gate: bool = True
    # Speakers whose messages are kept as raw turns only: stored, embedded and searchable, never sent to
    # fact extraction (no model call). For an assistant's own replies, hundreds of words of advice each,
    # whose raw turn already answers "what did you recommend". Empty: every speaker's messages are extracted.
    # Kept lowercased and sorted (names are compared case-insensitively).
    raw_only_speakers: tuple[str, ...] = ()
    # Queued messages of one session (same source and time) whose facts are extracted in one model call,
    # up to this many (1: one call per message, as Memory-R1). Each message's facts still go to the
    # manager on their own, in dialogue order. A batch forms only from what is queued: a lone message
    # is never held back to wait for others.
    extract_batch: int = 1
    # Consolidate queued messages in a background thread of this process. Off: ``add`` only stores, and
    # messages are consolidated by ``flush``, ``add(wait=True)``, ``ingest`` or another process on the file
    # (an app that wants the model to run only when it says so, or a read-mostly server next to a writer).
    background: bool = True
    max_message_tokens: int = 1024  # longer messages are truncated (with a warning)
    # Answer Agent (Memory-R1: top 30 memories per speaker, 60 in all). How it answers: "plain" (a short
    # answer as plain text from lines "[date] speaker: text", raw turns first, then memories; no cited
    # numbers) or "cited" (Memory-R1's memory distillation: JSON listing the numbers of the memories that
    # answer, then the answer; the format the trained answer adapter learned, see the "cited" preset).
    # Plain, 3 memories per speaker after 10 raw turns, by measurement: on conv-30 (validation) 33.9 F1
    # against 27.1 for the cited format over 5 + 5 and 33.1 for rag-hybrid (experiments/answer-context-conv30).
    answer_format: str = "plain"
    answer_k: int = 3
    answer_turns_k: int = 10  # raw dialogue turns added to the answer context (0 = memories only)
    answer_max_tokens: int = 96
    # How memories and raw turns are found for answers and ``Memory.search``: "hybrid" fuses the vector
    # ranking with a keyword (BM25) ranking of the question's words by reciprocal rank fusion, so a name
    # or a date the embedder misses is still found; "dense" is the vector ranking alone (Memory-R1). The
    # manager's related-memory lookup stays dense: it decides what a bank holds, and cached banks keep
    # their meaning.
    search: str = "hybrid"
    # What the answer agent reads: "per-speaker" (Memory-R1: the top answer_k memories of each speaker,
    # then answer_turns_k raw turns) or "budget" (Memory.context: facts and raw turns ranked together,
    # cut at answer_budget_tokens, in dialogue order; answer_k / answer_turns_k are then unused).
    answer_context: str = "per-speaker"
    answer_budget_tokens: int = 600
    # A question about something no stored text mentions ("my hamster" when only a cat was mentioned) is
    # answered "Not mentioned" without a model call (edgemem/unmentioned.py); ``Answer.unmentioned``
    # names the words. On by measurement: on LongMemEval's oracle development split it answers 11 of 23
    # abstention questions "Not mentioned" and refuses 10 of 379 answerable ones (0 of 48 on the S sample,
    # 1 of 81 on conv-30) (experiments/abstain-unmentioned). The "memory-r1" preset leaves it off.
    abstain_unmentioned: bool = True
    # Relative time in an extracted fact ("yesterday", "last week", "next month") replaced by the date it
    # meant at the message's time before the fact is stored (edgemem/dates.py), so no model does date
    # arithmetic. Off: on conv-30 sessions 1-6 only 2 of 104 facts held a relative time to resolve, too few
    # to measure (experiments/dates-at-write-conv30); it changes what ingest writes (a new bank).
    resolve_dates: bool = False

    def __post_init__(self) -> None:
        if self.search not in SEARCH_MODES:
            raise InvalidInput(f"Unknown search {self.search!r}. Fix: one of {', '.join(SEARCH_MODES)}.")
        if self.answer_format not in ANSWER_FORMATS:
            raise InvalidInput(
                f"Unknown answer_format {self.answer_format!r}. Fix: one of {', '.join(ANSWER_FORMATS)}."
            )
        if self.answer_context not in ANSWER_CONTEXTS:
            raise InvalidInput(
                f"Unknown answer_context {self.answer_context!r}. Fix: one of {', '.join(ANSWER_CONTEXTS)}."
            )
        if (
            isinstance(self.extract_batch, bool)
            or not isinstance(self.extract_batch, int)
            or not 1 <= self.extract_batch <= MAX_EXTRACT_BATCH
        ):
            raise InvalidInput(
                f"extract_batch={self.extract_batch!r} is not a batch size. Fix: a whole number from 1 to "
                f"{MAX_EXTRACT_BATCH}."
            )
        if isinstance(self.raw_only_speakers, str) or not all(
            isinstance(x, str) and x.strip() for x in self.raw_only_speakers
        ):
            raise InvalidInput(
                f"raw_only_speakers={self.raw_only_speakers!r} is not a list of speaker names. "
                'Fix: e.g. raw_only_speakers=("assistant",), or () for none.'
            )
        self.raw_only_speakers = tuple(sorted({x.strip().casefold() for x in self.raw_only_speakers}))
        if self.adapters is not None and (not isinstance(self.adapters, dict) or not set(self.adapters) <= set(AGENTS)):
            raise InvalidInput(
                f"adapters={self.adapters!r} does not map agents ({', '.join(AGENTS)}) to GGUF LoRA files. Fix: e.g. "
                'adapters={"answer": "answer-lora.gguf"}; {} turns the installed adapters off; None keeps them.'
            )
        for name in ("threads", "background_threads"):
            value = getattr(self, name)
            if value is not None and (isinstance(value, bool) or not isinstance(value, int) or value < 1):
                raise InvalidInput(
                    f"{name}={value!r} is not a thread count. Fix: a whole number of 1 or more, or None."
                )

    def raw_only(self, speaker: str) -> bool:
        """Whether ``speaker``'s messages are kept as raw turns only (names compared case-insensitively)."""
        return speaker.strip().casefold() in self.raw_only_speakers

    @classmethod
    def preset(cls, name: str, **overrides: Any) -> MemoryConfig:
        """A named configuration (``PRESETS``), with ``overrides`` on top.

        >>> MemoryConfig.preset("memory-r1").answer_k, MemoryConfig.preset("memory-r1").search
        (30, 'dense')
        """
        if name not in PRESETS:
            raise InvalidInput(f"Unknown preset {name!r}. Fix: one of {', '.join(PRESETS)}.")
        return cls(**{**PRESETS[name], **overrides})

    def bank_settings(self) -> dict[str, Any]:
        """The settings that decide what ingest writes (not how answers are read): two configs with
        equal bank settings build the same bank, so a cached bank serves any answer settings."""
        return {
            "model": str(self.model),
            # no trained adapter is a manager's yet: a default-config bank is the untrained manager's
            "manager_adapter": (self.adapters or {}).get("manager"),
            "constrained": self.constrained,
            "manager_k": self.manager_k,
            "context_messages": self.context_messages,
            "max_deletes_per_turn": self.max_deletes_per_turn,
            "relatedness_guard": self.relatedness_guard,
            "max_message_tokens": self.max_message_tokens,
            # only when on, so the banks built before the setting existed keep their cache names
            **({"resolve_dates": True} if self.resolve_dates else {}),
            **({"manager_only_when_related": True} if self.manager_only_when_related else {}),
            **({"manager_add_by_number": True} if self.manager_add_by_number else {}),
            **({"manager_keep_shifted_facts": True} if self.manager_keep_shifted_facts else {}),
            **({"manager_lines": True} if self.manager_lines else {}),
            **({"admission_gate": True} if self.admission_gate else {}),
            **({"extract_batch": self.extract_batch} if self.extract_batch != 1 else {}),
            **({"raw_only_speakers": list(self.raw_only_speakers)} if self.raw_only_speakers else {}),
        }


# Named configurations. "memory-r1": the paper's answer context (the top 30 memories of each speaker, no
# raw turns, vector search, cited answers), kept for comparison with the paper; "cited": the cited answer
# format over 5 memories per speaker + 5 raw turns, the prompts the trained answer adapter learned from
# (make answer-agent); "default": MemoryConfig's own defaults.
PRESETS: dict[str, dict[str, Any]] = {
    "default": {},
    "cited": {"answer_format": "cited", "answer_k": 5, "answer_turns_k": 5},
    "memory-r1": {
        "answer_format": "cited",
        "answer_k": 30,
        "answer_turns_k": 0,
        "search": "dense",
        "answer_context": "per-speaker",
        "abstain_unmentioned": False,
    },
}
