"""The key table (bpftop/panes/keys.py) is whole and consistent: every probe has its toggle,
no key means two things on one screen, and every action exists where it is bound."""

from __future__ import annotations

import re

from textual.binding import Binding, BindingType

from bpftop.engine.registry import PROBE_NAMES
from bpftop.panes.base import Pane
from bpftop.panes.keys import KEYS, bindings, toggle_key
from bpftop.screens.app import BpftopApp
from bpftop.screens.drilldown import DrilldownScreen


def keys_of(scope_bindings: list[BindingType]) -> list[str]:
    return [key for b in scope_bindings if isinstance(b, Binding) for key in b.key.split(",")]


def test_every_pane_probe_has_its_toggle_key_on_the_dashboard_and_in_the_drilldown() -> None:
    toggles = {k.probe: k.first for k in KEYS if k.probe}
    assert set(toggles) == set(PROBE_NAMES)
    drilldown = {b.action for b in bindings("drilldown") if isinstance(b, Binding)}
    for probe in PROBE_NAMES:
        assert f"app.toggle_probe('{probe}')" in drilldown
        assert toggle_key(probe) == toggles[probe]


def test_no_key_means_two_things_on_one_screen() -> None:
    dashboard = keys_of(bindings("app")) + keys_of(bindings("pane"))
    assert len(dashboard) == len(set(dashboard))
    drilldown = keys_of(bindings("drilldown"))
    assert len(drilldown) == len(set(drilldown))


def test_every_action_exists_where_it_is_bound() -> None:
    where = {"app": BpftopApp, "pane": Pane, "drilldown": DrilldownScreen}
    for key in KEYS:
        name = re.match(r"\w+", key.action)
        assert name, key
        assert hasattr(where[key.scope], f"action_{name.group(0)}"), key.id
    assert len({k.id for k in KEYS}) == len(KEYS)
