"""Rating's rules: the satisfaction levels and the two-strike rule (R9)."""
from __future__ import annotations

from services.common.contracts import FIRST_ROUND, RATING_LEVELS, SUPERVISED_ROUND

LEVELS = RATING_LEVELS


def decide(level: str, round_: int) -> str:
    """What a rating leads to: 不满意 once → 发回重办 (order_redo); 不满意 again → 督办
    (supervise); otherwise, or after 督办, the case closes (a dissatisfied rating after 督办
    is still recorded and counted in the unit's figures)."""
    if level not in LEVELS:
        raise ValueError(f"unknown level {level!r}")
    if level != "dissatisfied" or round_ >= SUPERVISED_ROUND:
        return "close"
    return "order_redo" if round_ == FIRST_ROUND else "supervise"
