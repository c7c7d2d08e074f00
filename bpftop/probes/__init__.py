"""The probe classes, one per BPF program: attach plan, maps, decoding. Only the BPF thread
(engine/) calls into here.
"""
