"""Property: any 13-word window copied from a held-out problem (prompt or starter code), pasted
anywhere in a longer request, in any case, is caught by the decontamination check."""

from __future__ import annotations

import re

from hypothesis import assume, given, settings
from hypothesis import strategies as st

from ssd.problems import Problem
from ssd.traffic.config import CurationConfig, DecontaminationConfig
from ssd.traffic.curate import words
from ssd.traffic.decontaminate import Decontaminator, problem_text

CFG = DecontaminationConfig()
# Words NFKC and case folding change ("ﬁle" -> "file", "Straße" -> "strasse", full-width
# letters), digits, identifiers with underscores, and plain ones.
VOCAB = (
    "read the integer n print sum of its digits Straße ﬁle ＮＵＭＢＥＲ naïve x_1 42 list return sorted array élan"
    " if else λ 每个"
).split()
SEP = st.sampled_from([" ", "  ", "\n", ", ", ". ", " (", ") ", "\t", " - ", ": ", "'s "])


@st.composite
def text(draw, min_words: int, max_words: int) -> str:
    n = draw(st.integers(min_words, max_words))
    out = []
    for _ in range(n):
        w = draw(st.sampled_from(VOCAB))
        out.append(w.upper() if draw(st.booleans()) and draw(st.booleans()) else w)
        out.append(draw(SEP))
    return "".join(out)


_RAW_WORD = re.compile(r"\w+")


@settings(max_examples=300, deadline=None)
@given(
    problems=st.lists(st.tuples(text(13, 60), st.one_of(st.none(), text(3, 20))), min_size=1, max_size=4),
    which=st.integers(0, 3),
    start=st.integers(0, 10**6),
    before=st.one_of(st.just(""), text(0, 40)),
    after=st.one_of(st.just(""), text(0, 40)),
    upper=st.booleans(),
)
def test_any_13_word_window_of_a_heldout_problem_is_caught(problems, which, start, before, after, upper):
    held = [
        Problem(id=f"heldout/{i}", prompt=prompt, starter_code=starter) for i, (prompt, starter) in enumerate(problems)
    ]
    deco = Decontaminator(held, CFG, CurationConfig())
    src = problem_text(held[which % len(held)])
    spans = [m.span() for m in _RAW_WORD.finditer(src)]
    assume(len(spans) >= CFG.ngram)
    i = start % (len(spans) - CFG.ngram + 1)
    window = src[spans[i][0] : spans[i + CFG.ngram - 1][1]]  # copied as it stands in the problem
    assert len(words(window)) >= CFG.ngram
    pasted = before + " " + (window.upper() if upper else window) + " " + after
    assert deco.check(pasted) is not None, (window, pasted)
