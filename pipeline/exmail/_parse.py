"""Response bodies -> errcode check -> typed models. Anything malformed becomes a ResponseFormatError that
names the offending fields but never their values (a gettoken answer holds a token)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated, Any, TypeVar

import msgspec
import orjson
import pydantic
from pydantic import BaseModel, BeforeValidator, Field

from pipeline.exmail._errors import ResponseFormatError, error_for
from pipeline.exmail.models import (
    AccountCheck,
    BatchJobLogRecord,
    Department,
    DepartmentMatch,
    ExmailModel,
    Int,
    Int64,
    LoginLogRecord,
    MailLogRecord,
    OperationLogRecord,
    Tag,
    User,
    UserBrief,
    UserOption,
    as_int,
)

M = TypeVar("M", bound=BaseModel)
_MAX_REPORTED = 5
_NOT_JSON = object()


def decode_payload(body: bytes, endpoint: str) -> dict[str, Any]:
    """The JSON object of a successful answer; a non-zero errcode raises its mapped ExmailError."""
    # Errors are raised outside the except blocks: the decode/validation errors hold the body (maybe a token).
    try:
        payload = orjson.loads(body)
    except orjson.JSONDecodeError:
        payload = _NOT_JSON
    if payload is _NOT_JSON:
        raise ResponseFormatError(None, "response body is not valid JSON", endpoint)
    if not isinstance(payload, dict):
        raise ResponseFormatError(None, f"response is a JSON {type(payload).__name__}, not an object", endpoint)
    try:
        errcode: int | None = as_int(payload.get("errcode", 0))
    except ValueError:
        errcode = None
    if errcode is None:
        raise ResponseFormatError(None, "errcode is not an integer", endpoint)
    if errcode != 0:
        errmsg = payload.get("errmsg")
        raise error_for(errcode, errmsg if isinstance(errmsg, str) else "", endpoint)
    return payload


def parse_model(model: type[M], payload: Any, endpoint: str) -> M:
    """Validate `payload` as `model`, turning validation failures into ResponseFormatError."""
    try:
        return model.model_validate(payload)
    except pydantic.ValidationError as exc:
        problem = describe_validation_error(exc, model.__name__)
    raise ResponseFormatError(None, problem, endpoint)


def describe_validation_error(exc: pydantic.ValidationError, what: str) -> str:
    errors = exc.errors(include_url=False, include_input=False, include_context=False)
    shown = "; ".join(
        f"{'.'.join(str(part) for part in err['loc']) or '<root>'}: {err['msg']}" for err in errors[:_MAX_REPORTED]
    )
    more = f" (+{len(errors) - _MAX_REPORTED} more)" if len(errors) > _MAX_REPORTED else ""
    return f"unexpected {what} response: {shown}{more}"


def _none_to_empty_list(value: object) -> object:
    return [] if value is None else value


T = TypeVar("T")
Items = Annotated[list[T], BeforeValidator(_none_to_empty_list)]


class DepartmentCreated(ExmailModel):
    id: Int64


class DepartmentList(ExmailModel):
    department: Items[Department] = []


class DepartmentSearch(ExmailModel):
    department: Items[DepartmentMatch] = []


class UserList(ExmailModel):
    userlist: Items[User] = []


class UserSimpleList(ExmailModel):
    userlist: Items[UserBrief] = []


class BatchCheck(ExmailModel):
    records: Items[AccountCheck] = Field(default=[], alias="list")


class TagCreated(ExmailModel):
    tagid: Int


class TagList(ExmailModel):
    taglist: Items[Tag] = []


class UserOptions(ExmailModel):
    option: Items[UserOption] = []


class MailLog(ExmailModel):
    records: Items[MailLogRecord] = Field(default=[], alias="list")


class LoginLog(ExmailModel):
    records: Items[LoginLogRecord] = Field(default=[], alias="list")


class BatchJobLog(ExmailModel):
    records: Items[BatchJobLogRecord] = Field(default=[], alias="list")


class OperationLog(ExmailModel):
    records: Items[OperationLogRecord] = Field(default=[], alias="list")


# ---------------------------------------------------------------- log pages for the pollers
#
# A poller emits each log record exactly as the API returned it, so it needs the validated JSON objects, not
# models: building a pydantic model per record (and copying its raw dict back out) was most of the cost of a
# poll run. `LogRows` checks a whole page in C with a strict msgspec shape that accepts only values the models
# accept (ints as ints, text as strings or null; a property test holds the two together); a page with anything
# else (an id sent as a decimal string, a number where text is expected, a bad record) goes through the pydantic
# page model, which accepts the tolerant forms and refuses bad records with the usual ResponseFormatError.


class _MailRow(msgspec.Struct, gc=False):
    mailtype: int
    time: int
    status: int
    sender: str | None = None
    receiver: str | None = None
    subject: str | None = None


class _LoginRow(msgspec.Struct, gc=False):
    time: int
    type: int
    ip: str | None = None


class _BatchJobRow(msgspec.Struct, gc=False):
    time: int
    type: int
    operator: str | None = None
    status: int | str | None = None


class _OperationRow(msgspec.Struct, gc=False):
    time: int
    type: int
    operator: str | None = None
    operand: str | None = None
    remark: str | None = None


@dataclass(frozen=True, slots=True)
class LogRows:
    """The records of one log answer as validated JSON objects (the poller's view of `model`'s page)."""

    model: type[BaseModel]
    strict: Any  # list[<row struct>]: what the page must match to skip the pydantic check

    def __call__(self, payload: dict[str, Any], endpoint: str) -> list[dict[str, Any]]:
        rows = payload.get("list")
        if rows is None:
            return []
        try:
            msgspec.convert(rows, self.strict)
        except msgspec.ValidationError:
            parse_model(self.model, payload, endpoint)  # tolerant forms pass, bad records raise here
        return rows


MAIL_ROWS = LogRows(MailLog, list[_MailRow])
LOGIN_ROWS = LogRows(LoginLog, list[_LoginRow])
BATCHJOB_ROWS = LogRows(BatchJobLog, list[_BatchJobRow])
OPERATION_ROWS = LogRows(OperationLog, list[_OperationRow])
