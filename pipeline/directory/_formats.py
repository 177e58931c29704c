"""Reading and writing directory files: CSV (UTF-8 or GBK), XLSX (openpyxl) and JSON.

One table layout for CSV and XLSX: a `type` column (department / user / group; 部门 / 成员 / 群组) and the
fields of each kind; rows without a type column are users, as in the admin console's member spreadsheet. XLSX
files may instead hold one sheet per kind (sheets named departments/部门, users/成员, groups/群组). Headers are
matched per kind in English or Chinese (docs/directory.md lists every accepted name); a column the importer does
not know is reported, never silently dropped.
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson

from pipeline.directory.model import DirectoryFile, Rejected, RowError, build_row, text

FORMATS = ("csv", "xlsx", "json")
KINDS = ("department", "user", "group")

# (field, English header, Chinese header) in export order; the first two names are also accepted on import.
COLUMNS: dict[str, list[tuple[str, str, str]]] = {
    "department": [("path", "path", "部门路径"), ("id", "department_id", "部门ID"), ("order", "order", "排序")],
    "user": [
        ("userid", "userid", "帐号"), ("name", "name", "姓名"), ("department", "department", "部门"),
        ("position", "position", "职位"), ("mobile", "mobile", "手机"), ("tel", "tel", "电话"),
        ("extid", "extid", "编号"), ("gender", "gender", "性别"), ("enable", "enable", "状态"),
        ("slaves", "slaves", "别名"), ("cpwd_login", "cpwd_login", "首次登录修改密码"), ("setvip", "setvip", "VIP"),
    ],
    "group": [
        ("groupid", "groupid", "群组帐号"), ("groupname", "groupname", "群组名称"),
        ("userlist", "userlist", "群组成员"),
        ("grouplist", "grouplist", "子群组"), ("department", "member_departments", "成员部门"),
        ("allow_type", "allow_type", "发信权限"), ("allow_userlist", "allow_userlist", "指定发信人"),
    ],
}
# Further accepted header names per kind and field (matched after _norm()).
ALIASES: dict[str, dict[str, tuple[str, ...]]] = {
    "department": {
        "path": ("department", "department_path", "部门", "部门名称路径", "所属部门"),
        "id": ("id", "部门id", "部门编号"),
        "order": ("排序值", "次序", "顺序"),
    },
    "user": {
        "userid": ("email", "account", "mail", "账号", "邮箱", "邮箱帐号", "邮箱账号", "成员帐号", "成员账号",
                   "邮箱地址", "电子邮箱", "企业邮箱"),
        "name": ("成员姓名", "名字", "display_name"),
        "department": ("departments", "department_path", "所属部门", "所在部门", "部门路径"),
        "position": ("title", "职务"),
        "mobile": ("mobile_phone", "手机号", "手机号码", "移动电话"),
        "tel": ("telephone", "phone", "座机", "固定电话", "办公电话", "电话号码"),
        "extid": ("employee_id", "employee_no", "工号", "员工编号", "员工号"),
        "gender": ("sex",),
        "enable": ("enabled", "status", "帐号状态", "账号状态", "启用状态"),
        "slaves": ("aliases", "alias", "邮箱别名", "别名邮箱"),
        "cpwd_login": ("change_password", "登录修改密码", "首次登录需修改密码"),
        "setvip": ("vip",),
        "password": ("password", "密码", "初始密码", "登录密码"),
    },
    "group": {
        "groupid": ("group", "group_email", "群组邮箱", "群组地址", "群组账号", "邮件群组"),
        "groupname": ("group_name", "群组名"),
        "userlist": ("members", "成员"),
        "grouplist": ("member_groups", "groups"),
        "department": ("departments", "部门"),
        "allow_type": ("权限",),
        "allow_userlist": ("allow_members", "senders"),
    },
}
TYPE_HEADERS = ("type", "kind", "类型")
TYPE_VALUES = {"department": "department", "dept": "department", "部门": "department",
               "user": "user", "member": "user", "成员": "user", "用户": "user",
               "group": "group", "mail_group": "group", "群组": "group", "邮件群组": "group"}
TYPE_LABEL = {"en": {k: k for k in KINDS}, "zh": {"department": "部门", "user": "成员", "group": "群组"}}
SHEETS = {"departments": "department", "部门": "department", "users": "user", "members": "user", "成员": "user",
          "groups": "group", "群组": "group", "邮件群组": "group"}
SHEET_NAME = {"en": {"department": "departments", "user": "users", "group": "groups"},
              "zh": {"department": "部门", "user": "成员", "group": "群组"}}

_DECORATION = re.compile(r"[*＊]|[(（][^)）]*[)）]")


def _norm(header: Any) -> str:
    """'邮箱帐号(必填)*' -> '邮箱帐号'; 'Department ' -> 'department'."""
    return _DECORATION.sub("", text(header)).strip().lower().replace(" ", "_")


def _header_map(kind: str) -> dict[str, tuple[str, int]]:
    """normalised header -> (field, rank): a canonical name (rank 0) wins over an alias (rank 1), both when
    one header could mean two fields and when two columns give one field."""
    out: dict[str, tuple[str, int]] = {}
    for field_name, en, zh in COLUMNS[kind]:
        out.setdefault(_norm(en), (field_name, 0))
        out.setdefault(_norm(zh), (field_name, 0))
    for field_name, names in ALIASES[kind].items():
        for name in names:
            out.setdefault(_norm(name), (field_name, 1))
    return out


HEADER_MAPS = {kind: _header_map(kind) for kind in KINDS}


@dataclass(slots=True)
class ReadResult:
    data: DirectoryFile
    notes: list[str]


def detect_format(path: Path, given: str | None = None) -> str:
    fmt = (given or path.suffix.lstrip(".")).lower()
    if fmt not in FORMATS:
        raise ValueError(f"{path.name}: unknown format {fmt!r}; use .csv, .xlsx or .json (or --format)")
    return fmt


def decode_csv(raw: bytes, encoding: str | None = None) -> str:
    """UTF-8 (with or without BOM), else GBK (read as GB18030, its superset), unless `encoding` is given."""
    if encoding:
        return raw.decode(encoding)
    if raw.startswith(b"\xef\xbb\xbf"):
        return raw[3:].decode("utf-8")
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        try:
            return raw.decode("gb18030")
        except UnicodeDecodeError as exc:
            raise ValueError(f"the file is neither UTF-8 nor GBK (byte {exc.start}); use --encoding") from None


def _table(rows: Iterable[tuple[int, Sequence[Any]]], where: str, fixed_kind: str | None,
           out: DirectoryFile, notes: list[str]) -> None:
    """Rows of one table (first non-empty row = header) into `out`."""
    header: list[str] | None = None
    type_col: int | None = None
    for number, cells in rows:
        if header is None:
            if not any(text(c) for c in cells):
                continue
            header = [_norm(c) for c in cells]
            type_col = next((i for i, h in enumerate(header) if h in TYPE_HEADERS), None) if not fixed_kind else None
            kinds = [fixed_kind] if fixed_kind else list(KINDS) if type_col is not None else ["user"]
            known = {h for k in kinds for h in HEADER_MAPS[k]} | set(TYPE_HEADERS)
            unknown = [text(c) for c, h in zip(cells, header, strict=True) if h and h not in known]
            if unknown:
                label = f"sheet {where[:-1]}" if where.endswith("!") else "header"
                notes.append(f"{label}: column(s) {', '.join(unknown)} not used (docs/directory.md lists the "
                             "accepted headers)")
            continue
        if not any(text(c) for c in cells):
            continue
        loc = f"{where}{number}" if where.endswith("!") else f"{where} {number}"
        kind = fixed_kind or "user"
        if type_col is not None:
            label = text(cells[type_col] if type_col < len(cells) else "").lower()
            if label:
                if label not in TYPE_VALUES:
                    out.rejected.append(_reject(loc, number, "row", "?", f"type {label!r} is not department, "
                                                "user or group"))
                    continue
                kind = TYPE_VALUES[label]
        mapping = HEADER_MAPS[kind]
        values: dict[str, Any] = {}
        ranks: dict[str, int] = {}
        for i, h in enumerate(header):
            found = mapping.get(h)
            if found is None:
                continue
            name, rank = found
            if name not in ranks or rank < ranks[name]:
                values[name], ranks[name] = (cells[i] if i < len(cells) else None), rank
        try:
            row = build_row(kind, values, loc, number)
        except RowError as exc:
            key = text(values.get({"user": "userid", "group": "groupid", "department": "path"}[kind]))
            out.rejected.append(_reject(loc, number, kind, key or "?", str(exc)))
            continue
        out.add(row)


def _reject(where: str, line: int | None, kind: str, key: str, reason: str) -> Rejected:
    return Rejected(where, line, kind, key, reason)


def read_csv(raw: bytes, encoding: str | None = None) -> ReadResult:
    content = decode_csv(raw, encoding)
    out, notes = DirectoryFile(), []  # type: DirectoryFile, list[str]
    reader = csv.reader(io.StringIO(content, newline=""))

    def numbered() -> Iterator[tuple[int, list[str]]]:
        start = 1
        for cells in reader:
            yield start, cells
            start = reader.line_num + 1

    _table(numbered(), "line", None, out, notes)
    return ReadResult(out, notes)


def read_xlsx(raw: bytes) -> ReadResult:
    from openpyxl import load_workbook  # imported on use: ~0.25 s to import; only XLSX needs it, not every CLI start

    book = load_workbook(io.BytesIO(raw), read_only=True, data_only=True)
    out, notes = DirectoryFile(), []  # type: DirectoryFile, list[str]
    try:
        for sheet in book.worksheets:
            kind = SHEETS.get(sheet.title.strip().lower()) or SHEETS.get(sheet.title.strip())
            rows = ((i, list(r)) for i, r in enumerate(sheet.iter_rows(values_only=True), start=1))
            _table(rows, f"{sheet.title}!", kind, out, notes)
    finally:
        book.close()
    return ReadResult(out, notes)


def read_json(raw: bytes) -> ReadResult:
    try:
        doc = orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        raise ValueError(f"not valid JSON: {exc}") from None
    if not isinstance(doc, dict):
        raise ValueError("the JSON file must be an object with departments, users and/or groups")
    out, notes = DirectoryFile(), []  # type: DirectoryFile, list[str]
    for section, kind in (("departments", "department"), ("users", "user"), ("groups", "group")):
        items = doc.get(section)
        if items is None:
            continue
        if not isinstance(items, list):
            raise ValueError(f"{section} must be a list")
        out.sections.add(kind)
        allowed = {f for f, _, _ in COLUMNS[kind]} | ({"password"} if kind == "user" else set())
        for i, item in enumerate(items):
            loc = f"{section}[{i}]"
            if not isinstance(item, dict):
                out.rejected.append(_reject(loc, None, kind, "?", "must be an object"))
                continue
            extra = sorted(set(item) - allowed)
            if extra:
                notes.append(f"{loc}: field(s) {', '.join(extra)} not used")
            try:
                out.add(build_row(kind, {k: v for k, v in item.items() if k in allowed}, loc, None))
            except RowError as exc:
                out.rejected.append(_reject(loc, None, kind, text(item.get("userid") or item.get("groupid")
                                                                     or item.get("path")) or "?", str(exc)))
    unknown = sorted(set(doc) - {"departments", "users", "groups", "corp_id", "exported_at", "format", "company"})
    if unknown:
        notes.append(f"top-level key(s) {', '.join(unknown)} not used")
    return ReadResult(out, notes)


def read_file(path: Path, fmt: str | None = None, encoding: str | None = None) -> tuple[ReadResult, bytes]:
    raw = path.read_bytes()
    kind = detect_format(path, fmt)
    if kind == "csv":
        return read_csv(raw, encoding), raw
    if kind == "xlsx":
        return read_xlsx(raw), raw
    return read_json(raw), raw


# ---------------------------------------------------------------- writing


def _cell(kind: str, name: str, value: Any, lang: str) -> Any:
    if isinstance(value, list):
        return "|".join(str(v) for v in value)
    if kind == "user" and name == "gender":
        return {1: "男", 2: "女"}.get(value, "") if lang == "zh" else {1: "male", 2: "female"}.get(value, "")
    if kind == "user" and name == "enable":
        return ("启用" if value else "禁用") if lang == "zh" else ("enabled" if value else "disabled")
    if value is None:
        return ""
    return str(value)


def _records(snapshot: dict[str, list[dict[str, Any]]], kind: str, lang: str) -> list[list[Any]]:
    section = {"department": "departments", "user": "users", "group": "groups"}[kind]
    return [[_cell(kind, f, obj.get(f), lang) for f, _, _ in COLUMNS[kind]] for obj in snapshot[section]]


def _headers(kind: str, lang: str) -> list[str]:
    return [zh if lang == "zh" else en for _, en, zh in COLUMNS[kind]]


def write_csv(snapshot: dict[str, list[dict[str, Any]]], lang: str, encoding: str) -> bytes:
    """One table: type column, then the columns of every kind (cells of other kinds stay empty)."""
    buf = io.StringIO(newline="")
    writer = csv.writer(buf, lineterminator="\r\n")
    type_header = "类型" if lang == "zh" else "type"
    writer.writerow([type_header, *(h for k in KINDS for h in _headers(k, lang))])
    widths = {k: len(COLUMNS[k]) for k in KINDS}
    for kind in KINDS:
        before = sum(widths[k] for k in KINDS[: KINDS.index(kind)])
        after = sum(widths[k] for k in KINDS[KINDS.index(kind) + 1 :])
        for record in _records(snapshot, kind, lang):
            writer.writerow([TYPE_LABEL[lang][kind], *([""] * before), *record, *([""] * after)])
    return buf.getvalue().encode(encoding)


def write_xlsx(snapshot: dict[str, list[dict[str, Any]]], lang: str) -> bytes:
    """One sheet per kind; every cell is text so 19-digit department ids and mobiles keep their digits."""
    from openpyxl import Workbook  # imported on use: ~0.25 s to import; only XLSX needs it, not every CLI start

    book = Workbook()
    first = True
    for kind in KINDS:
        sheet = book.active if first and book.active is not None else book.create_sheet()
        first = False
        sheet.title = SHEET_NAME[lang][kind]
        sheet.append(_headers(kind, lang))
        for record in _records(snapshot, kind, lang):
            sheet.append(record)
            for cell in sheet[sheet.max_row]:
                cell.number_format = "@"
    buf = io.BytesIO()
    book.save(buf)
    return buf.getvalue()


def write_json(snapshot: dict[str, Any]) -> bytes:
    return orjson.dumps(snapshot, option=orjson.OPT_INDENT_2)
