"""Shared by every layer: the records probes send, filters, histograms, formatting, the
user's XDP rules and uprobe settings, where the shipped data is. Imports nothing else of
bpftop's.
"""
