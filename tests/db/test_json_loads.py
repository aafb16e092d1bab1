"""JSON columns are read with orjson where it is exact, the standard library elsewhere:
the values must be those the standard library reads, whatever is stored."""

from __future__ import annotations

import json
from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from caliber.db.session import json_loads

scalars = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**80), max_value=2**80)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=30)
)
values = st.recursive(
    scalars,
    lambda inner: st.lists(inner, max_size=5) | st.dictionaries(st.text(max_size=8), inner),
    max_leaves=25,
)


def _same(got: Any, want: Any) -> bool:
    if type(got) is not type(want):
        return False
    if isinstance(want, dict):
        return got.keys() == want.keys() and all(_same(got[k], want[k]) for k in want)
    if isinstance(want, list):
        return len(got) == len(want) and all(_same(g, w) for g, w in zip(got, want, strict=True))
    return bool(got == want)


@given(values)
def test_reads_what_the_standard_library_reads(value: Any) -> None:
    text = json.dumps(value)
    assert _same(json_loads(text), json.loads(text))
    assert _same(json_loads(text.encode()), json.loads(text))


def test_integers_beyond_64_bits_stay_exact() -> None:
    big = 2**64 + 1
    assert json_loads(f'{{"n": {big}, "m": [-{big}]}}') == {"n": big, "m": [-big]}
    assert type(json_loads(str(big))) is int


def test_long_fractions_match() -> None:
    text = '{"ctr": 0.000012345678901234567, "cpm": 1.2345678901234567e-05}'
    assert json_loads(text) == json.loads(text)
