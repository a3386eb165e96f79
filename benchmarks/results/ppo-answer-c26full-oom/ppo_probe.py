"""Where does TRL's PPO step take its memory? training.ppo with each phase labelled and RSS sampled.

    PYTHONPATH=. OMP_NUM_THREADS=1 python benchmarks/results/ppo-answer-c26full-oom/ppo_probe.py \\
        --agent answer --preset cpu-0.5b --data runs/data-k5t5-full --reward f1-json --learning-rate 2e-5 \\
        --beta 0.04 --answerable-only --threads 1 --overwrite --max-steps 1 --output-dir runs/ppo-probe

Prints the phase stack each time RSS passes another 0.5 GB (a watchdog may kill the process, so the
trace is printed as it goes), and each phase's peak when it ends.
"""

import functools
import sys
import threading
import time

import accelerate
import trl.experimental.ppo.ppo_trainer as T

phase = ["setup"]
peaks: dict[str, float] = {}


def rss_gb() -> float:
    return int(open("/proc/self/statm").read().split()[1]) * 4096 / 2**30


def sample() -> None:
    last = 0.0
    while True:
        r = rss_gb()
        peaks[phase[-1]] = max(peaks.get(phase[-1], 0.0), r)
        if r > last + 0.5:
            print(f"[probe] rss {r:.2f} GB in {' > '.join(phase)}", flush=True)
            last = r
        time.sleep(0.05)


def labelled(name, fn):
    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        phase.append(name)
        try:
            return fn(*args, **kwargs)
        finally:
            phase.pop()
            print(f"[probe] {name}: peak {peaks.get(name, 0.0):.2f} GB, now {rss_gb():.2f}", flush=True)

    return wrapper


def forward(model, query_responses, pad_token_id):
    name = f"forward {type(model).__name__} {tuple(query_responses.shape)}"
    return labelled(name, original_forward)(model, query_responses, pad_token_id)


def wrapper_forward(self, **kwargs):  # PolicyAndValueWrapper.forward, in labelled parts
    phase.append("critic backbone")
    output = self.critic_backbone(**kwargs)
    phase[-1] = "critic score"
    logits = self.value_model.score(output.hidden_states[-1])
    phase[-1] = "policy"
    out = self.policy(**kwargs)
    phase.pop()
    return out, logits


threading.Thread(target=sample, daemon=True).start()
T.batch_generation = labelled("generation", T.batch_generation)
T.get_reward = labelled("get_reward (value or reward model)", T.get_reward)
original_forward = T.forward
T.forward = forward
T.PolicyAndValueWrapper.forward = wrapper_forward  # type: ignore[method-assign]
accelerate.Accelerator.backward = labelled("backward", accelerate.Accelerator.backward)

from training import ppo  # noqa: E402  (after the patches)

try:
    ppo.cli(sys.argv[1:])
finally:
    print("[probe] peaks:", {k: round(v, 2) for k, v in peaks.items()}, flush=True)
