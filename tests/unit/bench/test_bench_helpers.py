"""Pure helpers of ops/bench: percentiles, ratios, number formats, the tables, the receiver's id matching."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from types import ModuleType

import orjson
import pytest

Loader = Callable[[str], ModuleType]


@pytest.fixture
def report(load_bench: Loader) -> ModuleType:
    return load_bench("_report")


def test_percentile_is_nearest_rank(report: ModuleType) -> None:
    samples = [float(x) for x in range(1, 1001)]  # 1..1000
    assert report.percentile(samples, 50) == 500.0
    assert report.percentile(samples, 99) == 990.0
    assert report.percentile(samples, 100) == 1000.0
    assert report.percentile(samples, 0) == 1.0
    assert report.percentile(reversed(samples), 99) == 990.0
    assert report.percentile([7.0], 99) == 7.0
    assert report.percentile([], 50) is None
    with pytest.raises(ValueError, match="outside"):
        report.percentile([1.0], 101)


def test_summarize_gives_count_p50_p99_max(report: ModuleType) -> None:
    assert report.summarize([3.0, 1.0, 2.0]) == {"count": 3, "p50": 2.0, "p99": 3.0, "max": 3.0}
    assert report.summarize([]) == {"count": 0, "p50": None, "p99": None, "max": None}


def test_row_ratio_needs_both_values_and_a_nonzero_baseline(report: ModuleType) -> None:
    assert report.Row("a", 50.0, "msg/s", 200.0, "kcat").ratio == 0.25
    assert report.Row("a", None, "msg/s", 200.0).ratio is None
    assert report.Row("a", 50.0, "msg/s").ratio is None
    assert report.Row("a", 50.0, "msg/s", 0.0).ratio is None


@pytest.mark.parametrize(("value", "text"), [
    (None, "-"), (544133.4, "544,133"), (100.0, "100"), (45.54, "45.5"), (3.14159, "3.14"), (0.0, "0.00"),
    (0.01234, "0.0123"), (float("nan"), "nan"), (3, "3"), (12345, "12,345"),
])
def test_fmt_number(report: ModuleType, value: float | None, text: str) -> None:
    assert report.fmt_number(value) == text


def test_text_table_aligns_columns_and_keeps_notes_last(report: ModuleType) -> None:
    rows = [report.Row("ingest ceiling: kcat", 544133.0, "msg/s", notes="200,000 records"),
            report.Row("ingest: ours", 28224.0, "msg/s", 544133.0, "kcat", notes="future per record"),
            report.Row("broken phase", None, "", notes="FAILED: no broker")]
    lines = report.text_table(rows).splitlines()
    assert lines[0].split() == ["name", "value", "unit", "baseline", "ratio", "notes"]
    assert set(lines[1].replace(" ", "")) == {"-"}
    assert len(lines) == 2 + len(rows)
    value_end = lines[0].index("value") + len("value")
    assert lines[2][:value_end].endswith("544,133") and lines[3][:value_end].endswith("28,224")
    assert "544,133 (kcat)" in lines[3] and "0.052x" in lines[3] and lines[3].endswith("future per record")
    assert lines[4].endswith("FAILED: no broker")


def test_markdown_table_has_a_header_an_alignment_row_and_escaped_pipes(report: ModuleType) -> None:
    md = report.markdown_table([report.Row("p99", 87.5, "ms", 250.0, "limit", notes="a | b")]).splitlines()
    assert md[0] == "| name | value | unit | baseline | ratio | notes |"
    assert md[1].startswith("|---|--:|")
    assert md[2] == "| p99 | 87.5 | ms | 250 (limit) | 0.35x | a \\| b |"


def test_row_json_carries_every_column(report: ModuleType) -> None:
    doc = orjson.loads(orjson.dumps(report.Row("x", 2.0, "ms", 4.0, "aim", notes="n").to_json()))
    assert doc == {"name": "x", "value": 2.0, "unit": "ms", "baseline": 4.0, "baseline_label": "aim",
                   "notes": "n", "ratio": 0.5}


def test_receiver_records_first_arrival_of_each_bench_id(load_bench: Loader) -> None:
    receiver = load_bench("_receiver")
    arrivals = receiver.Arrivals()
    arrivals.record(b'{"labels": {"group": "bnch000042x"}, "text": "bnch000042x and bnch000007x"}', 10.0)
    arrivals.record(b'{"group": "bnch000042x"}', 11.0)
    arrivals.record(b'{"group": "bnch42x", "other": "bnch0000001x"}', 12.0)
    assert arrivals.requests == 3
    assert arrivals.first == {"000042": 10.0, "000007": 10.0}


def test_kcat_lines_split_key_and_value_at_the_first_tab(load_bench: Loader, tmp_path: Path) -> None:
    records = load_bench("_records")
    raw = records.raw_records(50, seed=3)
    files = records.kcat_files(raw, tmp_path)
    assert set(files) == {r.topic_kind for r in raw}
    lines = [line for path in files.values() for line in path.read_bytes().splitlines()]
    assert len(lines) == 50
    by_id = {r.envelope.id: r for r in raw}
    for line in lines:
        key, value = line.split(b"\t", 1)
        doc = orjson.loads(value)
        assert by_id[doc["id"]].key == key
    assert len(by_id) == 50  # distinct content, distinct ids


def test_alertmanager_alerts_mirror_our_alerts(load_bench: Loader) -> None:
    records = load_bench("_records")
    ours = records.burst_alerts(3, first_id=5, now=1_800_000_000.0)
    theirs = records.alertmanager_alerts(ours)
    assert [a["labels"]["group"] for a in theirs] == ["bnch000005x", "bnch000006x", "bnch000007x"]
    assert theirs[0]["labels"] == ours[0].labels
    assert theirs[0]["startsAt"] == "2027-01-15T08:00:00.000Z"
    assert theirs[0]["endsAt"] == "2027-01-15T09:00:00.000Z"


@pytest.mark.parametrize(("value", "text"),
                         [(None, "-"), (0.96, "0.96x"), (1.5, "1.50x"), (0.0024, "0.0024x")])
def test_fmt_ratio_keeps_small_ratios_readable(report: ModuleType, value: float | None, text: str) -> None:
    assert report.fmt_ratio(value) == text


def test_profile_top_shares_per_thread_self_and_inclusive(load_bench: Callable[[str], ModuleType],
                                                          tmp_path: Path) -> None:
    raw = tmp_path / "p.txt"
    raw.write_text("thread (1): MainThread;main (m.py:1);decode (e.py:9) 30\n"
                   "thread (1): MainThread;main (m.py:1);normalize (n.py:3) 50\n"
                   "thread (2): audit-sqlite_0;_write (s.py:5) 20\n")
    text = load_bench("profile_top").summarise(raw, top=5)
    assert "100 samples" in text
    assert " 80.0%  MainThread" in text and " 20.0%  audit-sqlite_0" in text
    assert " 50.0%  normalize (n.py:3)" in text  # self
    assert " 80.0%  main" in text  # inclusive


def test_profile_top_delivery_stages_take_the_innermost_known_frame(load_bench: Loader, tmp_path: Path) -> None:
    raw = tmp_path / "d.txt"
    main = "thread (1): MainThread;worker (cli.py:5);run_without_faust (plain.py:53);_run_receiver (d.py:1)"
    raw.write_text(f"{main};DeliverySink.deliver (sink.py:1);WebhookSink.encode (w.py:2);safe (templates.py:3) 30\n"
                   f"{main};DeliverySink.deliver (sink.py:1);exchange (pipeline/sinks/delivery/http.py:9) 50\n"
                   f"{main};DeliverySink.deliver (sink.py:1) 10\n"
                   "thread (1): MainThread;worker (cli.py:5);run_without_faust (plain.py:53) 10\n"
                   "thread (2): kafka-delivery;_poll_loop (producer.py:1) 40\n")
    text = load_bench("profile_top").delivery_stages(raw)
    assert "100 main-thread samples" in text
    assert " 50.0%  HTTP client" in text and " 30.0%  webhook payload" in text
    assert " 10.0%  send loop" in text and " 10.0%  uvloop's own work" in text


def test_listener_pid_finds_the_process_listening_on_a_port(load_bench: Loader) -> None:
    """The burst rows charge the local broker's CPU to our path: its pid comes from the listening port."""
    import os
    import socket

    procs = load_bench("_procs")
    with socket.socket() as listening:
        listening.bind(("127.0.0.1", 0))
        listening.listen()
        port = listening.getsockname()[1]
        assert procs.listener_pid(port) == os.getpid()
        assert procs.cpu_seconds(os.getpid()) is not None
    assert procs.listener_pid(port) is None  # closed: nobody listens there any more


def test_machine_busy_seconds_counts_work_and_not_idle_or_steal(load_bench: Loader, tmp_path: Path) -> None:
    """The burst rows' machine CPU: user + nice + system + irq + softirq of the aggregate line, in seconds."""
    import os

    procs = load_bench("_procs")
    stat = tmp_path / "stat"
    tick = os.sysconf("SC_CLK_TCK")
    stat.write_text(f"cpu  {3 * tick} {tick} {2 * tick} {500 * tick} {7 * tick} {tick} {tick} {9 * tick} 0 0\n"
                    "cpu0 1 2 3 4 5 6 7 8 0 0\n")
    assert procs.machine_busy_seconds(str(stat)) == pytest.approx(8.0)
    stat.write_text("cpu0 1 2 3 4 5 6 7 8 0 0\n")
    with pytest.raises(procs.BenchError, match="aggregate cpu line"):
        procs.machine_busy_seconds(str(stat))
    before = procs.machine_busy_seconds()
    sum(i * i for i in range(300_000))  # some work of this process
    assert procs.machine_busy_seconds() >= before


def test_burst_pairs_summary_counts_the_pairs_that_met_the_target_and_picks_the_median_pair(
        load_bench: Loader) -> None:
    alerts = load_bench("_alerts")

    def side(rate: float, p99: float, cpu: float) -> dict[str, object]:
        return {"notifications_per_s": rate, "arrival_ms": {"p99": p99}, "machine_cpu_s": cpu}

    am = side(4000.0, 1200.0, 2.0)
    pairs = [(am, side(3600.0, 1300.0, 2.2)),   # 0.90x: behind
             (am, side(4400.0, 1100.0, 1.8)),   # 1.10x, p99 below: met
             (am, side(4000.0, 1200.0, 2.0)),   # 1.00x but p99 equal, not below: not met
             (am, None),                        # ours failed: run, not met
             (am, side(4200.0, 1150.0, 1.9))]   # 1.05x, p99 below: met
    chosen, row = alerts.burst_pairs_summary(5000, pairs)
    assert chosen == 2, "of the ratios 0.90, 1.00, 1.05, 1.10 the lower median is pair 3's"
    assert (row.value, row.baseline, row.ratio) == (2, 5, 0.4)
    assert row.name == "burst 5,000: pairs in which ours met the target"
    assert "rate ratio per pair 0.90, 1.10, 1.00, 1.05 (median 1.02x)" in row.notes
    assert "(median 0.98x)" in row.notes  # p99: 1.08, 0.92, 1.00, 0.96
    assert "1 pair(s) without a result" in row.notes and "are pair 3's" in row.notes

    assert alerts.burst_pairs_summary(5000, [(am, side(4400.0, 1100.0, 1.8))]) == (0, None), "one pair: no row"
    assert alerts.burst_pairs_summary(5000, [(None, None), (am, None)]) == (None, None)


def test_burst_note_gives_the_first_arrival_and_the_percentiles_since_the_first_send(load_bench: Loader) -> None:
    alerts = load_bench("_alerts")
    start = 1000.0
    arrivals = {i: start + 0.040 + i * 0.001 for i in range(200)}  # first at 40 ms, then one per ms
    arrivals[999] = start + 5.0  # not one of the burst's ids: ignored
    rate, note, detail = alerts._burst_note(250, start, arrivals, receiver_cpu=0.12)
    assert rate == pytest.approx(200 / 0.239)
    assert detail["delivered"] == 200 and detail["first_arrival_ms"] == pytest.approx(40.0)
    assert detail["arrival_p1_ms"] == pytest.approx(41.0) and detail["arrival_ms"]["p99"] == pytest.approx(237.0)
    assert note.startswith("200/250 delivered; arrivals first 40 ms, p1 41, p50 139, p99 237 ms after the first send")
    assert detail["receiver_core_share"] == pytest.approx(0.12 / 0.239)
    assert alerts._burst_note(5, start, {}, 0.0) == (None, "nothing arrived", {"delivered": 0})


def test_phases_note_splits_the_arrivals_at_dispatchs_last_emission(load_bench: Loader) -> None:
    alerts = load_bench("_alerts")
    emitted = {i: 10.0 + i * 0.001 for i in range(100)}  # the last at 10.099
    arrivals = {i: 10.02 + i * 0.002 for i in range(100)}  # 10.020 .. 10.218
    note = alerts._phases_note(100, emitted, arrivals)
    # arrivals up to 10.099: i <= 39 (10.098); the other 60 in the 119 ms after it
    assert note == "40 arrived while dispatch was emitting, the other 60 in the 119 ms after its last (504/s); "
    assert alerts._phases_note(100, {}, arrivals) == "" and alerts._phases_note(100, emitted, {}) == ""
    everything_early = alerts._phases_note(2, {0: 5.0, 1: 6.0}, {0: 5.5, 1: 5.9})
    assert everything_early == "2 arrived while dispatch was emitting, the other 0 in the 0 ms after its last; "
