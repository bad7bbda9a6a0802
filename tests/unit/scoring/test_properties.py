"""Property tests: out-of-range or incomplete answers never validate; valid ones always score."""

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from engines.errors import InputError
from engines.scoring.conditions import EvalContext
from engines.scoring.definitions import builtin_instruments
from engines.scoring.engine import score, validate_response

INSTRUMENTS = sorted(builtin_instruments())


@st.composite
def valid_response(draw, iid):
    """A complete response that respects skip logic (optional items sometimes left out)."""
    inst = builtin_instruments()[iid]
    answers: dict[str, int] = {}
    for it in inst.items:
        if it.ask_if is not None and not it.ask_if.evaluate(EvalContext(answers=answers)):
            continue
        if not it.required and draw(st.booleans()):
            continue
        answers[it.id] = draw(st.sampled_from(sorted(it.allowed_values)))
    return answers


def for_every_instrument(test):
    """Run a property test on every built-in instrument, 60 drawn examples each."""
    return pytest.mark.parametrize("iid", INSTRUMENTS)(
        settings(max_examples=60, deadline=None)(given(data=st.data())(test))
    )


@for_every_instrument
def test_valid_responses_always_score_in_range(iid, data):
    inst = builtin_instruments()[iid]
    answers = data.draw(valid_response(iid))
    result = score(inst, answers)
    if result.total is not None:
        assert inst.min_total <= result.total <= inst.max_total
        band = inst.band(result.band.code)
        if band.min is not None:
            assert band.min <= result.total <= band.max
    assert dict(result.answers) == answers


@for_every_instrument
def test_out_of_range_value_never_validates(iid, data):
    inst = builtin_instruments()[iid]
    answers = data.draw(valid_response(iid))
    item_id = data.draw(st.sampled_from(sorted(answers)))
    allowed = inst.item(item_id).allowed_values
    bad = data.draw(
        st.one_of(
            st.integers(-1000, 1000).filter(lambda v: v not in allowed),
            st.floats(allow_nan=True),
            st.text(max_size=3),
            st.booleans(),
        )
    )
    with pytest.raises(InputError, match=item_id):
        validate_response(inst, {**answers, item_id: bad})


@for_every_instrument
def test_missing_required_answer_never_validates(iid, data):
    inst = builtin_instruments()[iid]
    answers = data.draw(valid_response(iid))
    required = [k for k in answers if inst.item(k).required]
    item_id = data.draw(st.sampled_from(required))
    broken = {k: v for k, v in answers.items() if k != item_id}
    # Removing a gate answer may also un-ask later items; either way it must not validate.
    with pytest.raises(InputError):
        score(inst, broken)


@pytest.mark.parametrize("iid", INSTRUMENTS)
@settings(max_examples=30, deadline=None)
@given(data=st.data(), extra=st.text(min_size=1, max_size=8))
def test_unknown_item_never_validates(iid, data, extra):
    inst = builtin_instruments()[iid]
    answers = data.draw(valid_response(iid))
    if extra in answers or any(it.id == extra for it in inst.items):
        return
    with pytest.raises(InputError, match="unknown item"):
        score(inst, {**answers, extra: 0})


def test_error_message_never_contains_the_answer():
    inst = builtin_instruments()["phq9"]
    answers = {f"q{i}": 0 for i in range(1, 10)}
    with pytest.raises(InputError) as info:
        score(inst, {**answers, "q9": 987654})
    assert "987654" not in str(info.value)
