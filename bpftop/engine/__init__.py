"""The BPF thread: the one thread that uses bcc, attaching and polling the probes it is
given (catalog.PROBE_CLASSES) and turning their counters into interval records.
"""
