"""How long R4 screening (services/intake/screening.py) takes on texts made to be slow.

    .venv/bin/python bench/screening.py                 # 5,000 and 50,000 characters
    .venv/bin/python bench/screening.py --sizes 5000 --repeat 50 --no-before

Each text of services/intake/tests/test_screening.py's `adversarial_texts` (one repeated
character, repeated keyword prefixes, near misses of the exclusions, a keyword at the end of
a long clause) and one ordinary complaint padded to the size is screened with the shipped
config/screening.yaml, `--repeat` times; the median is printed. "before" is the screening this
replaced (each exclusion blanked by `re.sub` over the whole text: the test's oracle), run once
per text at the first size only, since it takes seconds each. Wanted: at most 20 ms for
5,000 characters, whatever the text. Prints figures and asserts nothing.
"""
from __future__ import annotations

import argparse
import os
import platform
import statistics
import sys
import time
from pathlib import Path

import yaml

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from services.intake.screening import ScreeningRules  # noqa: E402
from services.intake.tests.test_screening import (CONFIG, adversarial_texts,  # noqa: E402
                                                  regex_substitution_verdict)

ORDINARY = "学生公寓3号楼热水已经停了两天,洗澡很不方便,请尽快维修。"
WANTED_MS = 20.0


def _texts(size: int) -> list[tuple[str, str]]:
    texts = [(_label(text), text) for text, _ in adversarial_texts(size)]
    ordinary = (ORDINARY * (size // len(ORDINARY) + 1))[:size]
    return texts + [("ordinary complaint, repeated", ordinary)]


def _label(text: str) -> str:
    """What a text is made of, short: how it starts and how it ends."""
    return f"{text[:6]}…{text[-6:]}"


def _ms(call, repeat: int) -> float:
    times = []
    for _ in range(repeat):
        started = time.perf_counter()
        call()
        times.append((time.perf_counter() - started) * 1000)
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="5000,50000",
                        help="text lengths in characters, comma-separated")
    parser.add_argument("--repeat", type=int, default=20, help="runs per text (median)")
    parser.add_argument("--no-before", action="store_true",
                        help="skip the old regex-substitution screening (seconds per text)")
    args = parser.parse_args()
    sizes = [int(size) for size in args.sizes.split(",")]

    raw = yaml.safe_load(CONFIG.read_text(encoding="utf-8"))
    rules = ScreeningRules.from_dict(raw)
    print(f"python {platform.python_version()}, {os.cpu_count()} CPUs, "
          f"{platform.platform()}; {len(raw['rules'])} rules; median of {args.repeat} runs")
    for index, size in enumerate(sizes):
        before = index == 0 and not args.no_before
        print(f"\n{size:,} characters{'' if not before else ' (before: one run)'}")
        print(f"  {'text':32} {'after ms':>9}" + (f" {'before ms':>10} {'ratio':>7}"
                                                 if before else ""))
        worst, ratios = 0.0, []
        for label, text in _texts(size):
            after = _ms(lambda: rules.screen(None, text), args.repeat)
            worst = max(worst, after)
            line = f"  {label:32} {after:9.2f}"
            if before:
                old = _ms(lambda: regex_substitution_verdict(raw, text), 1)
                ratios.append(old / after)
                line += f" {old:10.0f} {old / after:6.0f}x"
            print(line)
        per_5000 = worst * 5000 / size
        print(f"  worst: {worst:.2f} ms ({per_5000:.2f} ms per 5,000 characters; wanted "
              f"<= {WANTED_MS:.0f})" + (f"; before/after: {min(ratios):.0f}x to "
                                         f"{max(ratios):.0f}x" if ratios else ""))


if __name__ == "__main__":
    main()
