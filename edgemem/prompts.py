"""Every prompt and output schema the two agents see. ``training/`` imports these, so the models are
trained on exactly what the runtime sends.

The three calls follow Memory-R1 (arXiv 2508.19828), which follows Mem0:

1. fact extraction from the new message (with the previous message as context and the session time);
2. the Memory Manager: the new facts plus the related memories, shown with short ids "0", "1", ...;
   one operation per fact: ADD / UPDATE (rewrite an entry under the same id) / DELETE / NOOP;
3. the Answer Agent: memories rendered "timestamp: text", grouped by speaker; it first lists the
   memories that matter (memory distillation, here as their numbers), then gives a short answer.

Each system prompt is fixed text and comes first, so the engine can keep its KV state and pay for
it once (prefix reuse). The variable part always goes in the last user message.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

Message = dict[str, str]

EVENTS = ("ADD", "UPDATE", "DELETE", "NOOP")
MAX_FACTS = 5
MAX_FACT_CHARS = 200
MAX_ANSWER_CHARS = 120
MAX_CITED = 5

# ---------------------------------------------------------------------------------------------
# 1. Fact extraction

# The rules both extraction prompts share (one message at a time, or a batch of queued messages).
_FACT_RULES = """- Each fact is one short, self-contained sentence.
- Keep personal details: events, plans, preferences, relationships, jobs, places, possessions, feelings, changes.
- Keep time words exactly as said ("yesterday", "last week", "next month"): the message time is stored with every fact.
- If the person asks to forget or delete something, write one fact "Forget: <what to forget>".
- Greetings, thanks, questions and small talk have no facts: return an empty list."""

EXTRACTION_SYSTEM = f"""You extract facts worth remembering from a conversation, one message at a time.

Rules:
- Only use the NEW MESSAGE. The previous message is only context for understanding it.
- Facts are about the person who wrote the new message. Start each fact with that person's name, never "I" or "my".
{_FACT_RULES}

Examples:
NEW MESSAGE by Sam: Hey, how are you doing?
{{"facts": []}}
NEW MESSAGE by Sam: I quit my job at the bakery last month, now I teach yoga. My sister Ana helps me.
{{"facts": ["Sam quit the job at the bakery last month", "Sam teaches yoga", "Sam's sister is Ana"]}}
NEW MESSAGE by Sam: Please forget my phone number.
{{"facts": ["Forget: Sam's phone number"]}}

Return JSON: {{"facts": ["...", "..."]}} with at most {MAX_FACTS} facts."""

# Several queued messages of one conversation session in one call (``MemoryConfig.extract_batch``): the
# facts of message n go under key "n", so each fact keeps the message (and the writer) it came from.
EXTRACTION_BATCH_SYSTEM = f"""You extract facts worth remembering from a conversation, several messages at a time.

Rules:
- The facts of each message are about the person who wrote that message. Start each fact with that person's name, never "I" or "my".
- Use the other messages only to understand a message: never repeat a fact under two messages.
{_FACT_RULES}

Example:
MESSAGE 1 by Sam: Hey, how are you doing?
MESSAGE 2 by Ana: Great! I quit my job at the bakery last month, now I teach yoga.
MESSAGE 3 by Sam: Wow, congrats! My sister teaches yoga too.
MESSAGE 4 by Ana: Please forget my phone number.
{{"1": [], "2": ["Ana quit the job at the bakery last month", "Ana teaches yoga"], "3": ["Sam's sister teaches yoga"], "4": ["Forget: Ana's phone number"]}}

Return JSON with one key per message, "1", "2", ..., each a list of at most {MAX_FACTS} facts."""

EXTRACTION_SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {
        "facts": {
            "type": "array",
            "items": {"type": "string", "minLength": 1, "maxLength": MAX_FACT_CHARS},
            "maxItems": MAX_FACTS,
        }
    },
    "required": ["facts"],
}


def extraction_messages(
    speaker: str, text: str, time: str | None, previous: tuple[str, str] | None = None
) -> list[Message]:
    """Messages for the fact-extraction call. ``previous`` is (speaker, text) of the message before."""
    lines = []
    if time:
        lines.append(f"Message time: {time}")
    if previous is not None:
        lines.append(f"Previous message by {previous[0]}: {previous[1]}")
    lines.append(f"NEW MESSAGE by {speaker}: {text}")
    lines.append(f"Facts about {speaker}:")
    return [{"role": "system", "content": EXTRACTION_SYSTEM}, {"role": "user", "content": "\n".join(lines)}]


def extraction_batch_messages(messages: Sequence[tuple[str, str]], time: str | None) -> list[Message]:
    """Messages for one extraction call over several (speaker, text) messages of one session."""
    lines = [f"Message time: {time}"] if time else []
    lines += [f"MESSAGE {n} by {speaker}: {text}" for n, (speaker, text) in enumerate(messages, start=1)]
    lines.append("Facts about the writer of each message:")
    return [{"role": "system", "content": EXTRACTION_BATCH_SYSTEM}, {"role": "user", "content": "\n".join(lines)}]


def extraction_batch_schema(n_messages: int) -> dict[str, Any]:
    """One key per message, "1" .. str(n), in order, each a list of facts (as ``EXTRACTION_SCHEMA``)."""
    facts = EXTRACTION_SCHEMA["properties"]["facts"]
    keys = [str(n) for n in range(1, n_messages + 1)]
    return {"type": "object", "properties": {k: facts for k in keys}, "required": keys}


# ---------------------------------------------------------------------------------------------
# 2. Memory Manager

_MANAGER_SYSTEM = """You manage a memory bank. You get the existing memories (each with an id) and new facts.
For each new fact, in order, choose exactly one operation:
- ADD: the fact is new information, not in any memory. {add}
- UPDATE: the fact changes or adds detail to an existing memory about the same thing. Give that memory's id and the new full text, combining old and new.
- DELETE: the fact says an existing memory is no longer true, or it is "Forget: ..." about that memory. Give that memory's id.
- NOOP: the fact is already in a memory. Give that memory's id.
Only use ids from the list of existing memories. Facts about different things are ADD, not UPDATE.

Example:
Existing memories:
{{"id": "0", "text": "Sam lives in Oslo"}}
{{"id": "1", "text": "Sam has a cat"}}
{{"id": "2", "text": "Sam's phone number is 555-0101"}}
New facts:
1. Sam moved from Oslo to Rome
2. Sam has a cat
3. Sam plays the piano
4. Forget: Sam's phone number
{{"memory": [{{"event": "UPDATE", "id": "0", "text": "Sam lives in Rome"}}, {{"event": "NOOP", "id": "1"}}, {example_add}, {{"event": "DELETE", "id": "2"}}]}}

Return JSON: {{"memory": [...]}} with one operation per new fact."""


def manager_system(add_by_number: bool = False) -> str:
    """The manager's instructions. ``add_by_number``: an ADD names no text, it stores its fact as written
    (operations come one per fact, in order), so the model does not generate each new fact a second time."""
    if add_by_number:
        return _MANAGER_SYSTEM.format(add="It is stored as written: give no text.", example_add='{"event": "ADD"}')
    return _MANAGER_SYSTEM.format(add="Give its text.", example_add='{"event": "ADD", "text": "Sam plays the piano"}')


MANAGER_SYSTEM = manager_system()


def manager_messages(
    facts: Sequence[str], memories: Sequence[str], time: str | None, add_by_number: bool = False
) -> list[Message]:
    """Messages for the manager call; ``memories[i]`` is shown with id ``str(i)``."""
    if memories:
        shown = "\n".join(f'{{"id": "{i}", "text": {_quote(m)}}}' for i, m in enumerate(memories))
    else:
        shown = "(none)"
    new = "\n".join(f"{i + 1}. {f}" for i, f in enumerate(facts))
    lines = [f"Existing memories:\n{shown}", "", f"New facts{f' (time: {time})' if time else ''}:\n{new}"]
    lines.append(f"\nReturn exactly {len(facts)} operation(s), one per new fact, in order.")
    system = manager_system(add_by_number)
    return [{"role": "system", "content": system}, {"role": "user", "content": "\n".join(lines)}]


def manager_schema(n_memories: int, n_facts: int, add_by_number: bool = False) -> dict[str, Any]:
    """JSON schema for the manager: one operation per fact, ids limited to the ones shown; with
    ``add_by_number`` an ADD carries no text (it stores its fact)."""
    text = {"type": "string", "minLength": 1, "maxLength": MAX_FACT_CHARS}
    options: list[dict[str, Any]] = [_op("ADD") if add_by_number else _op("ADD", text=text)]
    if n_memories:
        ids = {"type": "string", "enum": [str(i) for i in range(n_memories)]}
        options += [_op("UPDATE", id=ids, text=text), _op("DELETE", id=ids), _op("NOOP", id=ids)]
    else:
        options.append(_op("NOOP"))
    return {
        "type": "object",
        "properties": {
            "memory": {"type": "array", "items": {"anyOf": options}, "minItems": n_facts, "maxItems": n_facts}
        },
        "required": ["memory"],
    }


# The manager's reply as lines (MemoryConfig.manager_lines): one line per new fact, in order, and an ADD
# stores its fact as written. Decoding is what consolidating a message costs on a laptop CPU, and most of
# a JSON reply is its syntax: "ADD" is 1 token where {"event": "ADD", "text": "Sam plays the piano"} is 14.
# A GBNF grammar (manager_lines_grammar) holds the model to exactly one line per fact and to the ids shown,
# as the JSON schema does for the JSON reply.
MANAGER_LINES_SYSTEM = """You manage a memory bank. You get the existing memories (each with an id) and new facts.
For each new fact, in order, write one line with exactly one operation:
ADD: the fact is new information, not in any memory. It is stored as written.
UPDATE <id> <text>: the fact changes or adds detail to that memory about the same thing. The text is its new full text, combining old and new.
DELETE <id>: the fact says that memory is no longer true, or it is "Forget: ..." about that memory.
NOOP <id>: the fact is already in that memory.
Only use ids from the list of existing memories. Facts about different things are ADD, not UPDATE.

Example:
Existing memories:
0: Sam lives in Oslo
1: Sam has a cat
2: Sam's phone number is 555-0101
New facts:
1. Sam moved from Oslo to Rome
2. Sam has a cat
3. Sam plays the piano
4. Forget: Sam's phone number
Operations:
UPDATE 0 Sam lives in Rome
NOOP 1
ADD
DELETE 2"""


def manager_lines_messages(facts: Sequence[str], memories: Sequence[str], time: str | None) -> list[Message]:
    """Messages for the manager's line reply; ``memories[i]`` is shown as line "i: text"."""
    shown = "\n".join(f"{i}: {' '.join(m.split())}" for i, m in enumerate(memories)) or "(none)"
    new = "\n".join(f"{i + 1}. {f}" for i, f in enumerate(facts))
    user = (
        f"Existing memories:\n{shown}\nNew facts{f' (time: {time})' if time else ''}:\n{new}\n"
        f"Write exactly {len(facts)} line(s), one per new fact, in order.\nOperations:"
    )
    return [{"role": "system", "content": MANAGER_LINES_SYSTEM}, {"role": "user", "content": user}]


def manager_lines_grammar(n_memories: int, n_facts: int) -> str:
    """GBNF for the manager's line reply: exactly ``n_facts`` lines, each "ADD", "UPDATE <id> <text>",
    "DELETE <id>" or "NOOP <id>", with ids limited to the ones shown (only "ADD" when none is shown)."""
    op = '"ADD"'
    rules = []
    if n_memories:
        op += ' | "UPDATE " id " " text | "DELETE " id | "NOOP " id'
        rules += ["id ::= " + " | ".join(f'"{i}"' for i in range(n_memories)), "text ::= [^\\n ] [^\\n]*"]
    more = f' ("\\n" op){{{n_facts - 1}}}' if n_facts > 1 else ""
    return "\n".join([f'root ::= op{more} "\\n"?', f"op ::= {op}", *rules]) + "\n"


# The first tokens of every manager output under its grammar (manager_schema): training rollouts start
# from them, as answers start from ANSWER_PREFIX, so the reward is spent on the operations.
MANAGER_PREFIX = '{"memory": ['


def _op(event: str, **fields: dict[str, Any]) -> dict[str, Any]:
    props: dict[str, Any] = {"event": {"const": event}, **fields}
    return {"type": "object", "properties": props, "required": list(props)}


def _quote(s: str) -> str:
    import json

    return json.dumps(s, ensure_ascii=False)


# ---------------------------------------------------------------------------------------------
# 3. Answer Agent

ANSWER_SYSTEM = """You answer a question about a long conversation, using memories taken from it.
Each memory is numbered and starts with the date and time it was said. Relative time words in a
memory ("yesterday", "last week") count from that date: turn them into the actual date or period.

First list the numbers of the memories that answer the question (at most 5), then give the answer.
The answer is short: a few words, a name, a date or a number, no full sentence. If the memories do
not say, answer "Not mentioned".

Return JSON: {"memories": [3, 7], "answer": "..."}"""

ANSWER_SCHEMA_BASE: dict[str, Any] = {
    "type": "object",
    "properties": {
        "memories": {"type": "array", "items": {"type": "integer"}, "maxItems": MAX_CITED},
        "answer": {"type": "string", "minLength": 1, "maxLength": MAX_ANSWER_CHARS},
    },
    "required": ["memories", "answer"],
}


# The first tokens of every answer: the runtime's JSON grammar (ANSWER_SCHEMA_BASE) admits nothing else
# to start with. Training rollouts start from this prefix, so their reward measures the answer and not
# whether the model happened to open a JSON object ("Not mentioned." as plain text scores 0 there but
# cannot happen at run time).
ANSWER_PREFIX = '{"memories": ['


def render_memory(number: int, time: str | None, text: str) -> str:
    """One memory line as the answer agent sees it: "[n] timestamp: text"."""
    return f"[{number}] {time}: {text}" if time else f"[{number}] {text}"


def answer_messages(
    question: str, groups: Sequence[tuple[str, Sequence[tuple[str | None, str]]]], now: str | None = None
) -> list[Message]:
    """Messages for the answer call.

    Args:
        question: the question.
        groups: (speaker, [(time, text), ...]) per speaker; memories are numbered 1.. across groups
            in the order given, which is the numbering :func:`parse_answer` maps cited numbers back with.
        now: when the question is asked, written like the memories' times ("how long ago" needs it);
            None leaves it out (the prompt the answer agent was trained on).
    """
    parts, n = [], 0
    for speaker, items in groups:
        lines = []
        for time, text in items:
            n += 1
            lines.append(render_memory(n, time, text))
        parts.append(f"Memories of {speaker}:\n" + ("\n".join(lines) if lines else "(none)"))
    if not parts:
        parts.append("Memories:\n(none)")
    user = "\n\n".join(parts) + (f"\n\nToday is {now}." if now else "") + f"\n\nQuestion: {question}"
    return [{"role": "system", "content": ANSWER_SYSTEM}, {"role": "user", "content": user}]


# The plain answer (MemoryConfig.answer_format="plain", the default): a short answer as plain text, no
# JSON, no cited numbers, from context lines "[date] speaker: text" (raw turns first, then facts). The
# same system prompt as the LoCoMo harness's rag and rag-hybrid baselines: on conv-30 it read ten raw
# turns and three facts per speaker to 33.9 F1, where the cited (Memory-R1) format read its default
# context to 27.1 (experiments/answer-context-conv30).
PLAIN_ANSWER_SYSTEM = """You answer questions about a conversation between two people.
Use the conversation excerpts when given; each line starts with the date and time of its session.
Turn relative dates ("yesterday", "last week") into actual dates using that session date.
Answer in at most 6 words: a name, a date, a number or a short phrase. No full sentence."""

PLAIN_ANSWER_MAX_TOKENS = 32  # a six-word answer, with room; only its first line is kept


def plain_answer_messages(
    question: str, context: Sequence[str], now: str | None = None, system: str = PLAIN_ANSWER_SYSTEM
) -> list[Message]:
    """Messages for a plain answer over context lines (already rendered, in the order shown); ``now``: when
    the question is asked (None leaves it out)."""
    user = (
        ("Conversation excerpts:\n" + "\n".join(context) + "\n\n" if context else "")
        + (f"Today is {now}.\n" if now else "")
        + f"Question: {question}\nShort answer:"
    )
    return [{"role": "system", "content": system}, {"role": "user", "content": user}]


def first_line(text: str) -> str:
    """The first non-empty line of a plain reply, stripped (the model may go on after its answer)."""
    return next((ln.strip() for ln in text.strip().splitlines() if ln.strip()), "")
