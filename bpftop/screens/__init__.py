"""The Textual app and its screens: the dashboard, the drilldown, help, pickers and
prompts; the record sources the app reads from; layout, themes and the terminal diff.
Built on panes/.
"""
