"""Response bodies -> errcode check -> typed models. Anything malformed becomes a ResponseFormatError that
names the offending fields but never their values (a gettoken answer holds a token)."""

from __future__ import annotations

from typing import Annotated, Any, TypeVar

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
