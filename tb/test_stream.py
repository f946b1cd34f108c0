"""The pause patterns and the result-sequence check of tb/bench/stream.py (no simulator)."""
from __future__ import annotations

import itertools
import random

import pytest

from tb.bench.stream import HANDSHAKE_VARIANTS, pause_generator, sequence_errors, variant_name


def take(gen, n: int) -> list[int]:
    return [int(bool(v)) for v in itertools.islice(gen, n)]


def test_fixed_3_of_4():
    assert take(pause_generator("fixed3of4"), 12) == [1, 1, 1, 0] * 3


def test_random_is_seeded_and_has_the_ratio():
    a = take(pause_generator("random", random.Random(7), 0.5), 4000)
    b = take(pause_generator("random", random.Random(7), 0.5), 4000)
    assert a == b, "the same seed must give the same pattern (SEED=N replays)"
    assert 1800 < sum(a) < 2200
    assert a != take(pause_generator("random", random.Random(8), 0.5), 4000)


def test_bad_kinds():
    with pytest.raises(ValueError, match="unknown pause pattern"):
        pause_generator("sometimes")
    with pytest.raises(ValueError, match="seeded"):
        pause_generator("random")


def test_variants():
    assert HANDSHAKE_VARIANTS[0] == (False, False, "none")
    assert {(i, b) for i, b, _ in HANDSHAKE_VARIANTS[1:]} == {(True, False), (False, True), (True, True)}
    assert {p for *_, p in HANDSHAKE_VARIANTS[1:]} == {"fixed3of4", "random"}
    assert len(set(HANDSHAKE_VARIANTS)) == 7
    assert variant_name(True, True, "fixed3of4") == "idle+backpressure/fixed3of4"
    assert variant_name(False, False, "none") == "no stalls"


def test_sequence_errors():
    exp = [[1, 2], [3, 4], [5, 6]]
    assert sequence_errors(exp, [list(e) for e in exp]) == []
    lost = sequence_errors(exp, exp[:2], "image")
    assert lost == ["2 image frames received, expected 3 (lost frames)"]
    dup = sequence_errors(exp, [exp[0], exp[0], exp[1]], "image")
    assert dup[0] == "image 1: expected [3, 4], actual [1, 2] (what image 0 should give: duplicated or reordered)"
    swapped = sequence_errors(exp, [exp[1], exp[0], exp[2]], "image")
    assert len(swapped) == 2 and "what image 1 should give" in swapped[0]
    wrong = sequence_errors(exp, [exp[0], [3, 5], exp[2]], "image")
    assert wrong == ["image 1: expected [3, 4], actual [3, 5]"]
    extra = sequence_errors(exp, exp + [[7, 8]], "image")
    assert extra == ["4 image frames received, expected 3 (extra frames)"]
