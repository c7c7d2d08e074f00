"""Where a USDT probe's arguments are, from its stapsdt note, in the form bpf/uprobes.c
reads them at run time (struct py_arg): no recompile per interpreter build.

A note gives each argument as SIZE@LOCATION (x86-64 assembler operands): `8@%rbp`
(a register), `-4@%eax` (its low 32 bits, signed), `8@-24(%rbp)` (memory at a register
plus an offset), `4@$5` (a constant). Other forms (a symbol, an index register) are
refused with the reason.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

# Each register's slot in x86-64's struct pt_regs (8 bytes each), which bpf/uprobes.c
# copies whole and indexes.
REGISTERS = {
    "r15": 0, "r14": 1, "r13": 2, "r12": 3, "bp": 4, "bx": 5, "r11": 6, "r10": 7,
    "r9": 8, "r8": 9, "ax": 10, "cx": 11, "dx": 12, "si": 13, "di": 14, "ip": 16, "sp": 19,
}  # fmt: skip
CONSTANT = 255  # not a register: the value is `disp` (bpf/uprobes.c PY_CONSTANT)
_OPERAND = re.compile(r"^(-?\d+)@(?:\$(-?\d+)|(-?\d+)?\(%(\w+)\)|%(\w+))$")


@dataclass(frozen=True)
class UsdtArg:
    reg: int  # REGISTERS value, or CONSTANT
    deref: bool  # read `size` bytes at reg + disp in the process's memory
    disp: int
    size: int  # bytes: 1, 2, 4 or 8
    signed: bool


def _names() -> dict[str, int]:
    """Every x86-64 name of each register (rax eax ax al, r12 r12d r12w r12b...)."""
    names = {"rip": REGISTERS["ip"]}
    for reg in ("ax", "bx", "cx", "dx"):
        names.update({f"r{reg}": REGISTERS[reg], f"e{reg}": REGISTERS[reg], reg: REGISTERS[reg],
                      f"{reg[0]}l": REGISTERS[reg]})  # fmt: skip
    for reg in ("si", "di", "bp", "sp"):
        names.update({f"r{reg}": REGISTERS[reg], f"e{reg}": REGISTERS[reg], reg: REGISTERS[reg],
                      f"{reg}l": REGISTERS[reg]})  # fmt: skip
    for n in range(8, 16):
        names.update({f"r{n}{suffix}": REGISTERS[f"r{n}"] for suffix in ("", "d", "w", "b")})
    return names


REGISTER_NAMES = _names()


def register_id(name: str) -> int:
    if name not in REGISTER_NAMES:
        raise ValueError(f"unknown register %{name}")
    return REGISTER_NAMES[name]


def parse_args(spec: str) -> list[UsdtArg]:
    """The note's argument string, one UsdtArg per argument; ValueError for a form
    bpftop cannot read."""
    out = []
    for operand in spec.split():
        match = _OPERAND.match(operand)
        if not match:
            raise ValueError(f"argument {operand!r}: a form bpftop does not read")
        size_text, constant, disp, base, register = match.groups()
        size = abs(int(size_text))
        if size not in (1, 2, 4, 8):
            raise ValueError(f"argument {operand!r}: size {size}")
        signed = size_text.startswith("-")
        if constant is not None:
            out.append(UsdtArg(CONSTANT, False, int(constant), size, signed))
        elif base is not None:
            out.append(UsdtArg(register_id(base), True, int(disp or 0), size, signed))
        else:
            out.append(UsdtArg(register_id(register), False, 0, size, signed))
    return out
