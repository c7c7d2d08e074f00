"""The key table (bpftop/panes/keys.py with the panes' toggles from bpftop/catalog.py) is
whole and consistent: every pane has its toggle, no key means two things on one screen,
and every action exists where it is bound."""

from __future__ import annotations

import re

from textual.binding import Binding, BindingType

from bpftop.catalog import KEY_TABLE, PANES, PROBE_NAMES
from bpftop.panes.base import Pane
from bpftop.panes.keys import bindings
from bpftop.screens.app import BpftopApp
from bpftop.screens.drilldown import DrilldownScreen


def keys_of(scope_bindings: list[BindingType]) -> list[str]:
    return [key for b in scope_bindings if isinstance(b, Binding) for key in b.key.split(",")]


def test_every_pane_probe_has_its_toggle_key_on_the_dashboard_and_in_the_drilldown() -> None:
    toggles = {k.probe: k.first for k in KEY_TABLE if k.probe}
    assert set(toggles) == set(PROBE_NAMES)
    drilldown = {b.action for b in bindings("drilldown", KEY_TABLE) if isinstance(b, Binding)}
    for pane in PANES:
        assert f"app.toggle_probe('{pane.name}')" in drilldown
        assert toggles[pane.name] == pane.key


def test_no_key_means_two_things_on_one_screen() -> None:
    dashboard = keys_of(bindings("app", KEY_TABLE)) + keys_of(bindings("pane"))
    assert len(dashboard) == len(set(dashboard))
    drilldown = keys_of(bindings("drilldown", KEY_TABLE))
    assert len(drilldown) == len(set(drilldown))


def test_every_action_exists_where_it_is_bound() -> None:
    where = {"app": BpftopApp, "pane": Pane, "drilldown": DrilldownScreen}
    for key in KEY_TABLE:
        name = re.match(r"\w+", key.action)
        assert name, key
        assert hasattr(where[key.scope], f"action_{name.group(0)}"), key.id
    assert len({k.id for k in KEY_TABLE}) == len(KEY_TABLE)
