"""What bpftop writes other than the screen: --json, --serve's /metrics, recordings,
incident bundles and their report.
"""
