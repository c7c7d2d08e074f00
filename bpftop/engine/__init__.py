"""The BPF thread: the one thread that uses bcc, attaching and polling the probes, and the
probe registry.
"""
