"""The one step from kernel running totals to interval deltas, and its one reset rule."""

from __future__ import annotations

from bpftop.probes.deltas import RunningTotals, deltas_of


def test_a_new_key_counts_from_zero_and_a_total_that_went_down_was_recreated() -> None:
    totals: RunningTotals[str, int] = RunningTotals()
    assert totals.deltas({"a": 5}) == {"a": 5}  # first seen: all of it is new
    assert totals.deltas({"a": 8, "b": 2}) == {"a": 3, "b": 2}
    assert totals.deltas({"a": 1, "b": 2}) == {"a": 1, "b": 0}  # a was made again
    assert totals.growth({"a": 1, "b": 4}) == {"b": 2}  # growth leaves out what stood still


def test_tuples_reset_whole_when_any_part_went_down() -> None:
    totals: RunningTotals[int, tuple[int, ...]] = RunningTotals()
    totals.deltas({7: (10, 100)})
    assert totals.deltas({7: (12, 130)}) == {7: (2, 30)}
    assert totals.deltas({7: (1, 140)}) == {7: (1, 140)}


def test_a_baseline_is_the_zero_of_its_keys_and_forget_starts_a_key_over() -> None:
    totals: RunningTotals[str, int] = RunningTotals()
    totals.baseline({"rx": 1000})  # counted before bpftop looked
    assert totals.deltas({"rx": 1010}) == {"rx": 10}
    totals.baseline({"tx": 50})  # another key's zero; rx keeps its own
    assert totals.deltas({"rx": 1015, "tx": 55}) == {"rx": 5, "tx": 5}
    totals.forget("rx")
    assert totals.deltas({"rx": 3, "tx": 55}) == {"rx": 3, "tx": 0}
    assert totals.deltas({}) == {} and totals.last == {}  # keys gone are forgotten


def test_each_owner_keeps_its_own_last_read() -> None:
    store: dict[int, RunningTotals[str, int]] = {}
    assert deltas_of(store, 1, {"drop": 40}, counted_before=True) == {"drop": 0}
    assert deltas_of(store, 2, {"drop": 3}, counted_before=False) == {"drop": 3}
    assert deltas_of(store, 1, {"drop": 45}, counted_before=True) == {"drop": 5}
    assert deltas_of(store, 2, {"drop": 3}, counted_before=False) == {"drop": 0}
