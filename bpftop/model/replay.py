"""Playing a recording: a position on the recording's clock that moves with wall
time times a speed, and the records due at each position.

Records are handed out in the order they were recorded, which is the order the live
models saw them, so a replayed model reaches the counts the live one had."""

from __future__ import annotations

from collections.abc import Sequence

from bpftop.core.records import Record

SPEEDS = (0.25, 0.5, 1.0, 2.0, 4.0, 8.0, 16.0, 32.0, 64.0)


class Replay:
    def __init__(self, records: Sequence[Record]) -> None:
        self.records = records
        stamps = [r.ts for r in records]
        self.start = min(stamps, default=0.0)
        self.end = max(stamps, default=0.0)
        self.position = self.start
        self.speed = 1.0
        self.playing = True
        self._next = 0  # index of the first record not yet handed out

    @property
    def finished(self) -> bool:
        return self._next >= len(self.records)

    def advance(self, wall_seconds: float) -> list[Record]:
        """What is due after `wall_seconds` more of playing (nothing while paused)."""
        if not self.playing:
            return []
        return self._move_to(self.position + wall_seconds * self.speed)

    def seek(self, ts: float) -> tuple[bool, list[Record]]:
        """Go to `ts` (held within the recording). Going back starts over: (True, every
        record up to `ts`), to be applied to a fresh model; forward: (False, the rest)."""
        ts = min(max(ts, self.start), self.end)
        if ts >= self.position:
            return False, self._move_to(ts)
        self._next = 0
        self.position = self.start
        return True, self._move_to(ts)

    def faster(self, steps: int) -> float:
        index = SPEEDS.index(self.speed) if self.speed in SPEEDS else SPEEDS.index(1.0)
        self.speed = SPEEDS[min(max(index + steps, 0), len(SPEEDS) - 1)]
        return self.speed

    def _move_to(self, ts: float) -> list[Record]:
        self.position = min(ts, self.end)
        due = []
        while self._next < len(self.records) and self.records[self._next].ts <= self.position:
            due.append(self.records[self._next])
            self._next += 1
        if self.position >= self.end:  # the end: whatever is left (out-of-order stamps)
            due.extend(self.records[self._next :])
            self._next = len(self.records)
        return due
