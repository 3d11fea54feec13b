"""Rating's rules: the satisfaction levels and the two-strike rule (R9)."""
from __future__ import annotations

LEVELS = {"satisfied": "满意", "basically": "基本满意", "dissatisfied": "不满意"}

# Rounds of handling: 0 the first, 1 after 发回重办, 2 under 督办.
FIRST, REDO, SUPERVISED = 0, 1, 2


def decide(level: str, round_: int) -> str:
    """What a rating leads to: 不满意 once → 发回重办 (order_redo); 不满意 again → 督办
    (supervise); otherwise, or after 督办, the case closes (a dissatisfied rating after 督办
    is still recorded and counted in the unit's figures)."""
    if level not in LEVELS:
        raise ValueError(f"unknown level {level!r}")
    if level != "dissatisfied" or round_ >= SUPERVISED:
        return "close"
    return "order_redo" if round_ == FIRST else "supervise"
