"""edgemem on LongMemEval with the plain answer prompt the baselines get there (a user's chats with an
assistant) instead of the runtime's (a conversation between two people), over the cached banks.

    PYTHONPATH=. python experiments/answer-prompt-chats-lme/run.py BANKS OUT [harness flags...]

Only the answer prompt differs: the banks, the retrieval and the answer settings are the harness's.
"""

import functools
import sys

from benchmarks import longmemeval as lme
from edgemem import prompts

CHATS = lme.BASELINE_SYSTEM.rsplit("\n", 1)[0]  # without the "Not mentioned" line: edgemem abstains by its rule

if __name__ == "__main__":
    banks, out, *flags = sys.argv[1:]
    prompts.plain_answer_messages = functools.partial(prompts.plain_answer_messages, system=CHATS)
    lme.main([*flags, "--systems", "edgemem", "--banks", banks, "--out", out])
