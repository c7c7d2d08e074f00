"""User-space halves of the BPF programs. Only the BPF thread (engine.py) calls into here."""
