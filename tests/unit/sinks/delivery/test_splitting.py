"""Byte-aware splitting: parts within the limit, cut only between characters, content preserved."""

from __future__ import annotations

import re

from hypothesis import given, settings
from hypothesis import strategies as st

from pipeline.sinks.delivery.splitting import chunk_utf8, split_to_fit, split_utf8, truncate_utf8, utf8_len

MARKER = re.compile(r"^\((\d+)/(\d+)\)\n")


def cjk_alert_markdown(target_bytes: int) -> str:
    lines = ["## [严重] 邮件外发异常告警（12 条告警）"]
    i = 0
    while utf8_len("\n".join(lines)) < target_bytes:
        i += 1
        lines.append(f"> <font color=\"warning\">严重</font> **用户 user{i}@example.com 在 10 分钟内发送失败 {i} 次**")
        lines.append(f"> 标签：`alertname=ManyFailedSends` `userid=user{i}@example.com` `ip=10.0.{i % 255}.1`")
        lines.append("> 描述：收件人域名拒收，可能是被列入黑名单；请检查 SPF、DKIM 与 DMARC 配置。😀")
        lines.append("")
    return "\n".join(lines)


def test_10kb_cjk_markdown_splits_into_numbered_parts_within_4096_bytes() -> None:
    text = cjk_alert_markdown(10 * 1024)
    assert utf8_len(text) >= 10 * 1024
    parts = split_utf8(text, 4096)
    assert len(parts) >= 3
    for p in parts:
        encoded = p.text.encode("utf-8")
        assert len(encoded) <= 4096
        encoded.decode("utf-8", errors="strict")
        m = MARKER.match(p.text)
        assert m and (int(m.group(1)), int(m.group(2))) == (p.index, len(parts))
        assert p.text == m.group(0) + p.chunk
    assert "".join(p.chunk for p in parts) == text
    # split at line boundaries: every part but the last ends a line
    assert all(p.chunk.endswith("\n") for p in parts[:-1])


def test_short_text_is_one_unmarked_part() -> None:
    parts = split_utf8("短消息", 2048)
    assert [(p.index, p.total, p.text) for p in parts] == [(1, 1, "短消息")]


def test_one_long_line_of_cjk_is_cut_between_characters() -> None:
    text = "告" * 3000  # 9000 bytes, no line breaks, no spaces
    parts = split_utf8(text, 2048)
    assert all(utf8_len(p.text) <= 2048 for p in parts)
    assert "".join(p.chunk for p in parts) == text
    assert all(set(p.chunk) == {"告"} for p in parts)


def test_four_byte_characters_are_never_split() -> None:
    text = "😀" * 1500  # 6000 bytes
    parts = split_utf8(text, 1000)
    assert "".join(p.chunk for p in parts) == text
    assert all(utf8_len(p.text) <= 1000 for p in parts)


def test_prefers_whitespace_inside_an_overlong_line() -> None:
    text = " ".join(["word"] * 600)
    chunks = chunk_utf8(text, 500)
    assert all(c.endswith(" ") for c in chunks[:-1])
    assert "".join(chunks) == text


def test_number_of_parts_with_two_digit_totals_stays_within_limit() -> None:
    text = "\n".join("行" * 30 for _ in range(400))
    parts = split_utf8(text, 256)
    assert parts[-1].total >= 10
    assert all(utf8_len(p.text) <= 256 for p in parts)
    assert "".join(p.chunk for p in parts) == text


def test_max_parts_truncates_the_last_part() -> None:
    text = cjk_alert_markdown(30 * 1024)
    parts = split_utf8(text, 4096, max_parts=3, truncation_note="\n…(已截断)")
    assert len(parts) == 3
    assert parts[-1].truncated and parts[-1].text.endswith("…(已截断)")
    assert all(utf8_len(p.text) <= 4096 for p in parts)
    assert text.startswith("".join(p.chunk for p in parts))


def test_truncate_utf8_keeps_whole_characters() -> None:
    assert truncate_utf8("告警告警", 7) == "告…"
    assert truncate_utf8("告警告警", 8) == "告…"  # "…" is 3 bytes, so a second 告 does not fit
    assert truncate_utf8("告警告警", 9) == "告警…"
    assert truncate_utf8("abc", 3) == "abc"


def test_split_to_fit_measures_the_whole_encoded_body() -> None:
    import orjson

    text = 'quote " and newline\n' * 500

    def build(p: object) -> bytes:
        return orjson.dumps({"msgtype": "text", "text": {"content": getattr(p, "text", "")}})

    parts = split_to_fit(text, 2000, build)
    assert all(len(build(p)) <= 2000 for p in parts)
    assert "".join(p.chunk for p in parts) == text


@settings(max_examples=200, deadline=None)
@given(text=st.text(alphabet=st.characters(codec="utf-8"), max_size=3000),
       limit=st.integers(min_value=16, max_value=600))
def test_split_invariants_hold_for_any_text(text: str, limit: int) -> None:
    parts = split_utf8(text, limit)
    assert all(utf8_len(p.text) <= limit for p in parts)
    assert "".join(p.chunk for p in parts) == text
    assert [p.index for p in parts] == list(range(1, len(parts) + 1))
