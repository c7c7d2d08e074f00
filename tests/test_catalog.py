"""The panes' descriptors (bpftop/catalog.py) are whole and consistent: what is derived
from them covers every pane once, and every record a pane shows has one model."""

from __future__ import annotations

import typing

from bpftop.catalog import COLUMNS, MODELS, PANES, PROBE_NAMES, REPORT_SECTIONS, new_dashboard
from bpftop.core.records import EVENT_TYPES, Record


def test_every_pane_is_on_screen_once_with_its_own_key_and_name() -> None:
    on_screen = [d.name for column in COLUMNS for d in column]
    assert sorted(on_screen) == sorted(PROBE_NAMES) and len(set(on_screen)) == len(PANES)
    assert len({d.key for d in PANES}) == len({d.title for d in PANES}) == len(PANES)
    assert len({(d.column, d.row) for d in PANES}) == len(PANES)


def test_each_record_type_belongs_to_one_model_and_every_event_to_one() -> None:
    claimed = [kind for make in MODELS.values() for kind in make().records]
    assert len(claimed) == len(set(claimed)), "a record type routed to two models"
    assert set(claimed) <= set(typing.get_args(Record))
    # Every kind of event has a pane (the history's event budget is spent on them).
    assert set(EVENT_TYPES) <= set(claimed)


def test_the_dashboard_has_a_view_of_every_pane_and_trims_it() -> None:
    snapshot = new_dashboard().snapshot(0.0)
    assert set(snapshot.views) == set(PROBE_NAMES)
    assert set(snapshot.trimmed(5).views) == set(PROBE_NAMES)
    assert all(view.pid_events(1) == [] for view in snapshot.views.values())


def test_report_sections_follow_the_screen() -> None:
    titles = [title for title, _section in REPORT_SECTIONS]
    screen = [d.report[0] for column in COLUMNS for d in column if d.report]
    assert titles == screen and titles[0] == "CPU"
