"""Reading directory files: encodings, English/Chinese headers, the type column, XLSX sheets, JSON; every
unreadable row is rejected with its location, unknown columns are reported."""

from __future__ import annotations

import csv
import io

import orjson
import pytest

from pipeline.directory._formats import read_csv, read_json, read_xlsx, write_csv, write_json, write_xlsx

SNAPSHOT = {
    "departments": [{"path": "研发中心", "id": 4913577855806636138, "order": 10},
                    {"path": "研发中心/邮件组", "id": 4913577855806636200, "order": 0}],
    "users": [{"userid": "alice@corp.example.com", "name": "张三", "department": ["研发中心/邮件组"],
               "position": "工程师", "mobile": "13800000000", "tel": "", "extid": "E001", "gender": 2, "enable": 1,
               "slaves": ["a@corp.example.com"], "cpwd_login": 0}],
    "groups": [{"groupid": "rd@corp.example.com", "groupname": "研发", "userlist": ["alice@corp.example.com"],
                "grouplist": [], "department": ["研发中心"], "allow_type": 3,
                "allow_userlist": ["alice@corp.example.com"]}],
}


def _csv(rows: list[list[str]], encoding: str = "utf-8") -> bytes:
    buf = io.StringIO(newline="")
    csv.writer(buf).writerows(rows)
    return buf.getvalue().encode(encoding)


@pytest.mark.parametrize("lang", ["en", "zh"])
@pytest.mark.parametrize("encoding", ["utf-8", "utf-8-sig", "gbk"])
def test_csv_round_trip(lang: str, encoding: str) -> None:
    data = read_csv(write_csv(SNAPSHOT, lang, encoding)).data
    assert not data.rejected
    assert set(data.departments) == {"研发中心", "研发中心/邮件组"}
    assert data.departments["研发中心"].values == {"path": "研发中心", "id": 4913577855806636138, "order": 10}
    alice = data.users["alice@corp.example.com"].values
    assert alice["department"] == ["研发中心/邮件组"] and alice["gender"] == 2 and alice["enable"] == 1
    assert alice["slaves"] == ["a@corp.example.com"] and alice["name"] == "张三"
    group = data.groups["rd@corp.example.com"].values
    assert group["department"] == ["研发中心"] and group["allow_type"] == 3
    assert data.sections == {"department", "user", "group"}


def test_admin_console_sheet_without_type_column_gbk() -> None:
    raw = _csv([["姓名*", "邮箱帐号(必填)", "所属部门", "手机号码", "性别", "帐号状态", "备注"],
                ["李四", "Li.Si@corp.example.com", "公司/研发中心|销售部", "13900000000", "男", "禁用", "x"]], "gbk")
    result = read_csv(raw)
    row = result.data.users["li.si@corp.example.com"]
    assert row.values == {"userid": "li.si@corp.example.com", "name": "李四", "department":
                          ["公司/研发中心", "销售部"], "mobile": "13900000000", "gender": 1, "enable": 0}
    assert row.where == "line 2" and row.line == 2
    assert result.notes == ["header: column(s) 备注 not used (docs/directory.md lists the accepted headers)"]
    assert result.data.sections == {"user"}


def test_bad_cells_and_duplicates_are_rejected_with_their_line() -> None:
    raw = _csv([["userid", "name", "gender", "enable"],
                ["a@corp.example.com", "A", "x", "1"],
                ["not-an-address", "B", "", ""],
                ["c@corp.example.com", "C", "", "maybe"],
                ["d@corp.example.com", "D", "", ""],
                ["D@corp.example.com", "D2", "", ""]])
    data = read_csv(raw).data
    assert [(r.line, r.key) for r in data.rejected] == [(2, "a@corp.example.com"), (3, "not-an-address"),
                                                       (4, "c@corp.example.com"), (6, "d@corp.example.com")]
    assert "gender: 'x' is not one of" in data.rejected[0].reason
    assert "first at line 5" in data.rejected[3].reason
    assert set(data.users) == {"d@corp.example.com"}
    assert "enable" not in data.users["d@corp.example.com"].values  # blank flag: leave as it is


def test_undecodable_csv_is_refused() -> None:
    with pytest.raises(ValueError, match="neither UTF-8 nor GBK"):
        read_csv(b"userid\n\xff\xfe\xfd\n")


def test_embedded_newlines_keep_line_numbers() -> None:
    raw = _csv([["userid", "name", "position"], ["a@corp.example.com", "A", "two\nlines"],
                ["b@corp.example.com", "B", "x"]])
    data = read_csv(raw).data
    assert data.users["b@corp.example.com"].line == 4


def test_xlsx_round_trip_keeps_big_ids_and_mobiles() -> None:
    data = read_xlsx(write_xlsx(SNAPSHOT, "zh")).data
    assert data.departments["研发中心"].values["id"] == 4913577855806636138
    assert data.users["alice@corp.example.com"].values["mobile"] == "13800000000"
    assert data.users["alice@corp.example.com"].where == "成员!2"


def test_json_round_trip_and_password() -> None:
    doc = orjson.loads(write_json({**SNAPSHOT, "corp_id": "wm1", "company": "C"}))
    doc["users"][0]["password"] = "Secret123"
    data = read_json(orjson.dumps(doc)).data
    row = data.users["alice@corp.example.com"]
    assert row.password is not None and row.password.get_secret_value() == "Secret123"
    assert "password" not in row.values and "Secret123" not in repr(row)
    with pytest.raises(ValueError, match="must be an object"):
        read_json(b"[]")
