"""MemoryConfig: presets and refused settings. Run: .venv/bin/pytest tests/test_config.py"""

import doctest

import pytest

from edgemem import config
from edgemem.config import MemoryConfig
from edgemem.errors import InvalidInput


def test_doctests():
    assert doctest.testmod(config).failed == 0


def test_presets():
    r1 = MemoryConfig.preset("memory-r1", threads=1)
    assert (r1.answer_k, r1.answer_turns_k, r1.search, r1.answer_context, r1.threads) == (
        30,
        0,
        "dense",
        "per-speaker",
        1,
    )
    assert MemoryConfig.preset("default") == MemoryConfig()
    with pytest.raises(InvalidInput, match="Unknown preset 'paper'.*memory-r1"):
        MemoryConfig.preset("paper")


@pytest.mark.parametrize(
    "settings,message",
    [({"search": "bm25"}, "Unknown search 'bm25'"), ({"answer_context": "all"}, "Unknown answer_context 'all'")],
)
def test_unknown_settings_are_refused(settings, message):
    with pytest.raises(InvalidInput, match=message):
        MemoryConfig(**settings)
