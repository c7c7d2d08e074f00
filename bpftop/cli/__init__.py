"""The command line: arguments, frozen options, the pre-flight, --check, and the session
that wires the engine to the TUI or to headless output.
"""
