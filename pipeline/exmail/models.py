"""Typed requests, responses and enums of the Exmail Open Platform API (shared/reference/exmail-api.md).

Response models are tolerant where the API is inconsistent (numbers sent as strings or as numbers, nulls
for empty values, unknown extra fields) and strict where silent damage is possible: an id that arrives as a
float (precision already lost) is refused instead of being rounded. Enum fields of responses hold the
IntEnum member for documented values and the plain int for values the reference does not list, so a new
server-side code never stops a poller and is never dropped.

Request models refuse unknown fields, keep passwords in SecretStr, and produce the wire body with
`wire()`: omitted optional fields are left out (the API keeps their previous value), gender travels as a
string (reference §4.2).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date
from enum import IntEnum, StrEnum
from typing import Annotated, Any, Generic, TypeVar

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    PlainSerializer,
    PrivateAttr,
    SecretStr,
    model_validator,
)
from pydantic_core.core_schema import ValidatorFunctionWrapHandler

INT64_MIN = -(2**63)
UINT64_MAX = 2**64 - 1


class App(StrEnum):
    """The five built-in Exmail apps; each has its own secret and its token only works for its endpoints."""

    CONTACT = "contact"
    SSO = "sso"
    MAIL_NOTICE = "mail_notice"
    SYSTEM_LOG = "system_log"
    FUNCTION_SETTING = "function_setting"


class MailStatus(IntEnum):
    """`status` of a log/mail record."""

    OTHER = 0
    SENDING = 1
    BOUNCED = 2
    SENT = 3
    SEND_FAILED = 4
    INCOMING_BLOCKED = 11
    RECEIVED_SPAM = 12
    RECEIVED_INBOX = 13
    RECEIVED_FOLDER = 14


class MailType(IntEnum):
    """`mailtype`: ALL is only valid in log/mail queries; records are SENT or RECEIVED."""

    ALL = 0
    SENT = 1
    RECEIVED = 2


class LoginType(IntEnum):
    """`type` of a log/login record."""

    WEB = 1
    MOBILE = 2
    QQMAIL_APP = 3
    DESKTOP_CLIENT = 4
    OTHER = 5


class OperationType(IntEnum):
    """`type` of a log/operation record (response side)."""

    LOGIN = 1
    CHANGE_PASSWORD = 2
    ADD_DOMAIN = 3
    CANCEL_DOMAIN = 4
    SET_LOGO = 5
    DELETE_LOGO = 6
    CHANGE_SECURITY_MAILBOX = 7
    CHANGE_ADMIN_MAILBOX = 8
    PUBLISH_ANNOUNCEMENT = 9
    MASS_MAIL = 10
    ADD_BLACKLIST_ENTRY = 11
    DELETE_BLACKLIST_ENTRY = 12
    CLEAR_BLACKLIST = 13
    ADD_WHITELIST_ENTRY = 14
    DELETE_WHITELIST_ENTRY = 15
    CLEAR_WHITELIST = 16
    ADD_DOMAIN_WHITELIST_ENTRY = 17
    DELETE_DOMAIN_WHITELIST_ENTRY = 18
    ADD_USER = 19
    DELETE_USER = 20
    ENABLE_USER = 21
    DISABLE_USER = 22
    EDIT_USER = 23
    EDIT_ALIAS = 24
    BATCH_IMPORT_USERS = 25
    ADD_SUB_ADMIN = 26
    DELETE_SUB_ADMIN = 27
    ADD_DEPARTMENT = 28
    DELETE_DEPARTMENT = 29
    EDIT_DEPARTMENT = 30
    MOVE_DEPARTMENT = 31
    ADD_MAIL_GROUP = 32
    DELETE_MAIL_GROUP = 33
    EDIT_MAIL_GROUP = 34
    SET_MAIL_BACKUP = 35
    MAIL_TRANSFER = 36
    IP_LOGIN_RESTRICTION = 37
    RESTRICT_OUTBOUND_MAIL = 38
    ENABLE_API = 39
    REGENERATE_KEY = 40
    DISABLE_API = 41


class OperationCategory(IntEnum):
    """`type` filter of a log/operation query (request side)."""

    ALL = 1
    OPEN_PROTOCOL_SYNC = 2
    EDIT_ADMIN_ACCOUNT = 3
    SUB_ADMINISTRATORS = 4
    ENTERPRISE_INFO = 5
    INBOUND_BLACKLIST = 6
    MAIL_TRANSFER = 7
    MEMBERS_AND_GROUPS = 8
    MAIL_BACKUP = 9
    MEMBER_PERMISSIONS = 10


class BatchJobType(IntEnum):
    """`type` of a log/batchjob record."""

    OTHER = 0
    MASS_MAIL = 1
    IMPORT_MEMBERS = 2
    DELETE_ANNOUNCEMENT = 3
    ADD_ALIASES = 4
    PUBLISH_ANNOUNCEMENT = 5
    RTX_BINDING = 6
    SET_SIGNATURE = 7
    CANCEL_SIGNATURE = 8
    ACTIVATE_MEMBERS = 9


class UserOptionType(IntEnum):
    """useroption `type`; SECURE_LOGIN_ENABLED is read-only."""

    FORCE_SECURE_LOGIN = 1
    IMAP_SMTP = 2
    POP_SMTP = 3
    SECURE_LOGIN_ENABLED = 4


class AccountType(IntEnum):
    """user/batchcheck result `type`."""

    INVALID = -1
    AVAILABLE = 0
    PRIMARY = 1
    ALIAS = 2
    GROUP = 3


class Gender(IntEnum):
    UNDEFINED = 0
    MALE = 1
    FEMALE = 2


class AllowType(IntEnum):
    """Who may send to a mail group."""

    ENTERPRISE_MEMBERS = 0
    ANYONE = 1
    GROUP_MEMBERS = 2
    SPECIFIED_MEMBERS = 3


# ---------------------------------------------------------------- tolerant scalar types

_DECIMAL = re.compile(r"-?[0-9]{1,20}")


def as_int(value: object) -> int:
    """An int from an int or a decimal string; floats and booleans are refused (precision/meaning lost)."""
    if isinstance(value, bool):
        raise ValueError("expected an integer, got a boolean")
    if isinstance(value, int):
        return value
    if isinstance(value, str) and _DECIMAL.fullmatch(value.strip()):
        return int(value.strip())
    raise ValueError(f"expected an integer, got {type(value).__name__}")


def _as_int64(value: object) -> int:
    n = as_int(value)
    if not INT64_MIN <= n <= UINT64_MAX:
        raise ValueError("integer outside the 64-bit range")
    return n


def _none_to_empty_text(value: object) -> object:
    return "" if value is None else value


def _none_to_empty_list(value: object) -> object:
    return [] if value is None else value


def _split_pipe_list(value: object) -> object:
    """tag add/del users report `invalidlist` as accounts joined by '|'."""
    if value is None or value == "":
        return []
    if isinstance(value, str):
        return [part for part in value.split("|") if part]
    return value


E = TypeVar("E", bound=IntEnum)


def _lenient_enum(enum_cls: type[E]) -> Any:
    def parse(value: object) -> int:
        number = 0 if value == "" else as_int(value)
        try:
            return enum_cls(number)
        except ValueError:
            return number

    return BeforeValidator(parse)


Int = Annotated[int, BeforeValidator(as_int)]
Int64 = Annotated[int, BeforeValidator(_as_int64)]
Text = Annotated[str, BeforeValidator(_none_to_empty_text)]
IdList = Annotated[list[Int64], BeforeValidator(_none_to_empty_list)]
TextList = Annotated[list[Text], BeforeValidator(_none_to_empty_list)]

MailStatusValue = Annotated[MailStatus | int, _lenient_enum(MailStatus)]
MailTypeValue = Annotated[MailType | int, _lenient_enum(MailType)]
LoginTypeValue = Annotated[LoginType | int, _lenient_enum(LoginType)]
OperationTypeValue = Annotated[OperationType | int, _lenient_enum(OperationType)]
BatchJobTypeValue = Annotated[BatchJobType | int, _lenient_enum(BatchJobType)]
UserOptionTypeValue = Annotated[UserOptionType | int, _lenient_enum(UserOptionType)]
AccountTypeValue = Annotated[AccountType | int, _lenient_enum(AccountType)]
GenderValue = Annotated[Gender | int, _lenient_enum(Gender)]
AllowTypeValue = Annotated[AllowType | int, _lenient_enum(AllowType)]


# ---------------------------------------------------------------- responses


class ExmailModel(BaseModel):
    """Base of response models: frozen, extra fields kept, numbers accepted where strings are expected."""

    model_config = ConfigDict(frozen=True, extra="allow", coerce_numbers_to_str=True, hide_input_in_errors=True)


class ExmailRecord(ExmailModel):
    """A list element whose original JSON object stays available as `raw` (pollers emit it unchanged)."""

    _raw: dict[str, Any] = PrivateAttr(default_factory=dict)

    @model_validator(mode="wrap")
    @classmethod
    def _keep_raw(cls, data: Any, handler: ValidatorFunctionWrapHandler) -> Any:
        record = handler(data)
        if isinstance(data, dict):
            record._raw = dict(data)
        return record

    @property
    def raw(self) -> dict[str, Any]:
        """The record exactly as the API returned it."""
        return dict(self._raw)


class AccessToken(ExmailModel):
    access_token: SecretStr = Field(min_length=1)
    expires_in: Int = Field(gt=0)


class Department(ExmailRecord):
    id: Int64
    name: Text = ""
    parentid: Int64 = 0
    order: Int = 0


class DepartmentMatch(Department):
    """A department/search hit: `path` is the department path joined with '/'."""

    path: Text = ""


class User(ExmailRecord):
    """user/get and user/list entries."""

    userid: str
    name: Text = ""
    department: IdList = []
    position: Text = ""
    mobile: Text = ""
    tel: Text = ""
    extid: Text = ""
    gender: GenderValue = Gender.UNDEFINED
    enable: Int | None = None
    slaves: TextList = []
    cpwd_login: Int = 0


class UserBrief(ExmailRecord):
    """user/simplelist entries."""

    userid: str
    name: Text = ""
    department: IdList = []


class AccountCheck(ExmailRecord):
    user: str
    type: AccountTypeValue


class Group(ExmailRecord):
    groupid: str
    groupname: Text = ""
    userlist: TextList = []
    grouplist: TextList = []
    department: IdList = []
    allow_type: AllowTypeValue = AllowType.ENTERPRISE_MEMBERS
    allow_userlist: TextList = []
    # newer doc (SEA 2021; PYSCRIPT reads taglist): tag members and the other allowed-sender lists
    taglist: IdList = []
    allow_department: IdList = []
    allow_taglist: IdList = []


class GroupWriteResult(ExmailModel):
    """Newer servers report entries they ignored on group create/update (all empty otherwise)."""

    invalid_userlist: TextList = []
    invalid_grouplist: TextList = []
    invalid_departlist: IdList = []
    invalid_taglist: IdList = []


class Tag(ExmailRecord):
    tagid: Int
    tagname: Text = ""


class TagMember(ExmailRecord):
    userid: str
    name: Text = ""


class TagDetail(ExmailModel):
    tagname: Text = ""
    userlist: Annotated[list[TagMember], BeforeValidator(_none_to_empty_list)] = []
    partylist: IdList = []


class TagMembersResult(ExmailModel):
    """Partial failure of tag/addtagusers or tag/deltagusers (errcode 0 with the ignored entries)."""

    invalidlist: Annotated[list[Text], BeforeValidator(_split_pipe_list)] = []
    invalidparty: IdList = []


class UserOption(ExmailRecord):
    type: UserOptionTypeValue
    value: Text = ""


class NewCount(ExmailModel):
    count: Int


class MailStatusSummary(ExmailModel):
    """log/mailstatus: mail volume of one domain over the queried dates."""

    sendsum: Int = 0
    recvsum: Int = 0


class MailLogRecord(ExmailRecord):
    mailtype: MailTypeValue
    sender: Text = ""
    receiver: Text = ""
    subject: Text = ""
    time: Int
    status: MailStatusValue


class LoginLogRecord(ExmailRecord):
    time: Int
    ip: Text = ""
    type: LoginTypeValue


class BatchJobLogRecord(ExmailRecord):
    time: Int
    operator: Text = ""
    type: BatchJobTypeValue
    status: Int | str | None = None


class OperationLogRecord(ExmailRecord):
    time: Int
    operator: Text = ""
    type: OperationTypeValue
    operand: Text = ""
    remark: str | None = None


class LoginUrl(ExmailModel):
    """A one-time SSO URL; it carries an authkey, so it is kept out of reprs."""

    login_url: SecretStr = Field(min_length=1)
    expires_in: Int = 300


T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class LogDay(Generic[T]):
    """The answer of a log query for one date (pollers query date by date)."""

    date: date
    result: T


# ---------------------------------------------------------------- requests


WireGender = Annotated[Gender, PlainSerializer(lambda g: str(int(g)), return_type=str)]


class ExmailRequest(BaseModel):
    """Base of request bodies: unknown fields are refused; `wire()` is the JSON body."""

    model_config = ConfigDict(frozen=True, extra="forbid", hide_input_in_errors=True)

    def wire(self) -> dict[str, Any]:
        body = self.model_dump(mode="python", exclude_none=True)
        return {key: _unwrap(value) for key, value in body.items()}


def _unwrap(value: Any) -> Any:
    if isinstance(value, SecretStr):
        return value.get_secret_value()
    if isinstance(value, IntEnum):
        return int(value)
    if isinstance(value, list):
        return [_unwrap(v) for v in value]
    return value


class DepartmentCreate(ExmailRequest):
    name: str = Field(min_length=1)
    parentid: int
    order: int | None = None


class DepartmentUpdate(ExmailRequest):
    id: int
    name: str | None = Field(default=None, min_length=1)
    parentid: int | None = None
    order: int | None = None


class UserCreate(ExmailRequest):
    userid: str = Field(min_length=3)
    name: str = Field(min_length=1)
    department: list[int] = Field(min_length=1, max_length=20)
    position: str | None = None
    mobile: str | None = None
    tel: str | None = None
    extid: str | None = None
    gender: WireGender | None = None
    slaves: list[str] | None = Field(default=None, max_length=5)
    password: SecretStr | None = None
    cpwd_login: Annotated[int, Field(ge=0, le=1)] | None = None
    setvip: Annotated[int, Field(ge=0, le=1)] | None = None


class UserUpdate(ExmailRequest):
    userid: str = Field(min_length=3)
    name: str | None = None
    department: list[int] | None = Field(default=None, max_length=20)
    position: str | None = None
    mobile: str | None = None
    tel: str | None = None
    extid: str | None = None
    gender: WireGender | None = None
    slaves: list[str] | None = Field(default=None, max_length=5)
    enable: Annotated[int, Field(ge=0, le=1)] | None = None
    password: SecretStr | None = None
    cpwd_login: Annotated[int, Field(ge=0, le=1)] | None = None
    setvip: Annotated[int, Field(ge=0, le=1)] | None = None


class GroupCreate(ExmailRequest):
    groupid: str = Field(min_length=3)
    groupname: str = Field(min_length=1)
    userlist: list[str] | None = None
    grouplist: list[str] | None = None
    department: list[int] | None = None
    taglist: list[int] | None = None
    allow_type: AllowType
    allow_userlist: list[str] | None = None
    allow_department: list[int] | None = None
    allow_taglist: list[int] | None = None

    @model_validator(mode="after")
    def _needs_members(self) -> GroupCreate:
        if not (self.userlist or self.grouplist or self.department or self.taglist):
            raise ValueError("a mail group needs at least one of userlist, grouplist, department, taglist")
        return self


class GroupUpdate(ExmailRequest):
    groupid: str = Field(min_length=3)
    groupname: str | None = None
    userlist: list[str] | None = None
    grouplist: list[str] | None = None
    department: list[int] | None = None
    taglist: list[int] | None = None
    allow_type: AllowType | None = None
    allow_userlist: list[str] | None = None
    allow_department: list[int] | None = None
    allow_taglist: list[int] | None = None


class UserOptionSetting(ExmailRequest):
    """One option to set; SECURE_LOGIN_ENABLED (type 4) is read-only and refused here."""

    type: UserOptionType
    value: str

    @model_validator(mode="after")
    def _settable(self) -> UserOptionSetting:
        if self.type is UserOptionType.SECURE_LOGIN_ENABLED:
            raise ValueError("useroption type 4 (secure login enabled) is read-only")
        return self


__all__ = [
    "AccessToken",
    "AccountCheck",
    "AccountType",
    "AllowType",
    "App",
    "BatchJobLogRecord",
    "BatchJobType",
    "Department",
    "DepartmentCreate",
    "DepartmentMatch",
    "DepartmentUpdate",
    "ExmailModel",
    "ExmailRecord",
    "ExmailRequest",
    "Gender",
    "Group",
    "GroupCreate",
    "GroupUpdate",
    "GroupWriteResult",
    "LogDay",
    "LoginLogRecord",
    "LoginType",
    "LoginUrl",
    "MailLogRecord",
    "MailStatus",
    "MailStatusSummary",
    "MailType",
    "NewCount",
    "OperationCategory",
    "OperationLogRecord",
    "OperationType",
    "Tag",
    "TagDetail",
    "TagMember",
    "TagMembersResult",
    "User",
    "UserBrief",
    "UserCreate",
    "UserOption",
    "UserOptionSetting",
    "UserOptionType",
    "UserUpdate",
    "as_int",
]
