"""The pollers' view of a log answer (`LogRows`, ExmailClient.log_*_rows): the validated JSON objects, exactly
as the API returned them, with the same acceptance as the typed models and the same errors for bad records."""

from __future__ import annotations

from typing import Any

import pydantic
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pipeline.exmail import ExmailClient, ResponseFormatError
from pipeline.exmail._parse import BATCHJOB_ROWS, LOGIN_ROWS, MAIL_ROWS, OPERATION_ROWS, LogRows

PARSERS = {"mail": MAIL_ROWS, "login": LOGIN_ROWS, "batchjob": BATCHJOB_ROWS, "operation": OPERATION_ROWS}
FIELDS = {
    "mail": ("mailtype", "sender", "receiver", "subject", "time", "status"),
    "login": ("time", "ip", "type"),
    "batchjob": ("time", "operator", "type", "status"),
    "operation": ("time", "operator", "type", "operand", "remark"),
}

json_scalar = st.one_of(
    st.none(), st.booleans(), st.integers(-(2**63), 2**63 - 1), st.floats(allow_nan=False, allow_infinity=False),
    st.text(max_size=6), st.sampled_from(["", "12", " 7 ", "-3", "1.5", "x"]),
)
json_value = st.one_of(json_scalar, st.lists(json_scalar, max_size=2), st.dictionaries(st.text(max_size=3),
                                                                                          json_scalar, max_size=2))


def _pydantic_accepts(rows: LogRows, payload: dict[str, Any]) -> bool:
    try:
        rows.model.model_validate(payload)
    except pydantic.ValidationError:
        return False
    return True


@settings(max_examples=300, deadline=None)
@given(kind=st.sampled_from(sorted(PARSERS)), data=st.data())
def test_rows_accept_exactly_what_the_models_accept_and_return_the_objects_unchanged(kind: str, data: Any) -> None:
    """The fast path (one msgspec check per page) never lets through a page the pydantic models refuse, and
    whatever the models accept comes back as the same objects (the raw records a model's `.raw` gives)."""
    names = st.sampled_from([*FIELDS[kind], "extra"])
    records = data.draw(st.lists(st.one_of(st.dictionaries(names, json_value, max_size=7),
                                           st.just("not an object")), max_size=4))
    payload = {"errcode": 0, "errmsg": "ok", "list": records}
    parser = PARSERS[kind]
    if _pydantic_accepts(parser, payload):
        rows = parser(payload, "log/x")
        assert rows is records  # the answer's own objects: nothing rebuilt, nothing dropped
        assert rows == [r.raw for r in parser.model.model_validate(payload).records]  # type: ignore[attr-defined]
    else:
        with pytest.raises(ResponseFormatError):
            parser(payload, "log/x")


def test_tolerant_forms_pass_and_bad_records_are_refused_by_field_without_their_values() -> None:
    tolerant = {"list": [{"mailtype": "1", "time": " 1700000000 ", "status": 3, "sender": 12345, "x": [1]}]}
    assert MAIL_ROWS(tolerant, "log/mail") == tolerant["list"]
    with pytest.raises(ResponseFormatError) as bad:
        MAIL_ROWS({"list": [{"mailtype": 1, "time": 1.5, "status": 3, "subject": "secret-subject"}]}, "log/mail")
    assert "time" in str(bad.value) and "secret-subject" not in str(bad.value) and "1.5" not in str(bad.value)
    with pytest.raises(ResponseFormatError, match="mailtype"):
        MAIL_ROWS({"list": [{"mailtype": True, "time": 1, "status": 3}]}, "log/mail")
    assert MAIL_ROWS({"list": None}, "log/mail") == [] == MAIL_ROWS({}, "log/mail")


async def test_client_log_rows_are_the_records_of_the_answer(client: ExmailClient, fake: Any) -> None:
    records = [{"mailtype": 1, "sender": "a@example.com", "receiver": "b@x.com", "subject": "hi", "time": 1714521600,
                "status": 3, "unknown_new_field": {"kept": True}}]
    fake.on("log/mail", {"errcode": 0, "errmsg": "ok", "list": records})
    assert await client.log_mail_rows("2024-05-01", "2024-05-01") == records
    assert fake.body("log/mail") == {"begin_date": "2024-05-01", "end_date": "2024-05-01", "mailtype": 0}
    fake.on("log/login", {"errcode": 0, "errmsg": "ok", "list": [{"time": 1714521600, "ip": "1.2.3.4", "type": 1}]})
    assert await client.log_login_rows("a@example.com", "2024-05-01", "2024-05-01") == [
        {"time": 1714521600, "ip": "1.2.3.4", "type": 1}]
    fake.on("log/batchjob", {"errcode": 0, "errmsg": "ok", "list": [{"time": 1, "operator": "adm", "type": 2}]})
    assert await client.log_batchjob_rows("2024-05-01", "2024-05-01") == [{"time": 1, "operator": "adm", "type": 2}]
    fake.on("log/operation", {"errcode": 0, "errmsg": "ok", "list": [{"time": 1, "type": 32, "operand": "g@x"}]})
    assert await client.log_operation_rows("2024-05-01", "2024-05-01") == [{"time": 1, "type": 32, "operand": "g@x"}]
    fake.on("log/mail", {"errcode": 0, "errmsg": "ok", "list": [{"mailtype": 1, "status": 3}]})
    with pytest.raises(ResponseFormatError, match="time"):
        await client.log_mail_rows("2024-05-01", "2024-05-01")
