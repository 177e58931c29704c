"""Property test of silences: times survive the wire and expiry is never late."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from pipeline.transforms.routing import SilenceStore

T0 = 1_800_000_000.0


@settings(max_examples=100, deadline=None, database=None)
@given(st.floats(min_value=T0, max_value=T0 + 86400, allow_nan=False), st.floats(min_value=0.0, max_value=3600))
def test_silence_times_survive_the_wire_and_expiry_is_never_late(created: float, later: float) -> None:
    clock = [created]
    store = SilenceStore(clock=lambda: clock[0])
    sil, _ = store.set({"matchers": ['a="1"'], "duration": "2h", "created_by": "t", "comment": "c"})
    assert sil.state(created) == "active"
    clock[0] = created + later
    expired, _ = store.expire(sil.id)
    assert expired.state(clock[0]) == "expired"
    replica = SilenceStore()
    replica.load(store.snapshot())
    assert replica.get(sil.id) == store.get(sil.id)
