"""The live directory view: paths, the company-name prefix, and groups found in the operation log."""

from __future__ import annotations

from datetime import date
from typing import Any

from pipeline.directory._live import LiveDirectory, groups_from_log
from pipeline.exmail import OperationCategory
from pipeline.exmail.models import OperationLogRecord


class LogClient:
    def __init__(self, records: list[dict[str, Any]]) -> None:
        self.records = [OperationLogRecord.model_validate(r) for r in records]
        self.asked: list[tuple[date, date, OperationCategory]] = []

    async def log_operation(self, begin: date, end: date, *, category: OperationCategory) -> list[Any]:
        self.asked.append((begin, end, category))
        return self.records


async def test_groups_from_the_operation_log() -> None:
    client = LogClient([{"time": 1, "operator": "admin", "type": 32, "operand": "New@corp.example.com"},
                        {"time": 2, "operator": "admin", "type": 34, "operand": "sales@corp.example.com"},
                        {"time": 3, "operator": "admin", "type": 33, "operand": "gone@corp.example.com"},
                        {"time": 4, "operator": "admin", "type": 19, "operand": "user@corp.example.com"}])
    found = await groups_from_log(client, date(2026, 3, 10), 30)  # type: ignore[arg-type]
    assert found == {"new@corp.example.com", "sales@corp.example.com"}
    assert client.asked == [(date(2026, 2, 8), date(2026, 3, 10), OperationCategory.MEMBERS_AND_GROUPS)]


def test_paths_and_company_prefix() -> None:
    live = LiveDirectory({1: {"id": 1, "name": "公司", "parentid": 0}, 5: {"id": 5, "name": "研发", "parentid": 1},
                          6: {"id": 6, "name": "后端", "parentid": 5}}, {}, {})
    assert live.resolve("公司/研发/后端") == 6 and live.resolve("研发/后端") == 6
    assert live.resolve("公司") == 1 and live.resolve("") == 1 and live.resolve("研发/前端") is None
    snapshot = live.snapshot("wm1", "2026-03-10T00:00:00.000Z")
    assert [d["path"] for d in snapshot["departments"]] == ["研发", "研发/后端"]
