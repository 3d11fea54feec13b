"""How fast the X3 similarity index answers with a realistic number of recent cases.

    .venv/bin/python bench/similarity.py               # 20 000 cases, 500 queries
    .venv/bin/python bench/similarity.py -n 50000 -q 1000

Builds a SimilarityIndex of `-n` synthetic complaints (campus places x facilities x faults x
free phrases, so word frequencies look like a real queue: a few words everywhere, most
rare), then times `-q` queries of new complaints, each one tokenised and searched as the
service would: `similar(text)`, no category. Prints build time, query p50/p95/max, the cost
of one IDF rebuild, and the query time when filing and searching alternate (the rebuild
every 5 % of the index amortised in).
"""
from __future__ import annotations

import argparse
import platform
import random
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from services.intake.similarity import SimilarityIndex, tokens, warm_up  # noqa: E402

PLACES = ([f"学生公寓{n}号楼" for n in range(1, 41)] + [f"{n}号楼" for n in range(1, 41)]
          + [f"教学楼{n}0{m}教室" for n in range(1, 8) for m in range(1, 9)]
          + ["一食堂", "二食堂", "三食堂", "清真餐厅", "图书馆", "体育馆", "游泳馆", "实验楼",
             "校医院", "行政楼", "东门", "西门", "南门", "操场", "快递驿站", "浴室", "超市"])
FACILITIES = ["热水", "空调", "路灯", "校园网", "门禁", "洗衣机", "饮水机", "电梯", "厕所",
              "暖气", "投影仪", "桌椅", "窗户", "水龙头", "下水道", "插座", "监控", "自行车棚",
              "饭菜", "价格", "座位", "开放时间", "排队", "噪音", "卫生", "垃圾桶", "WiFi"]
FAULTS = ["坏了", "停了两天", "一直漏水", "太慢了", "太吵了", "没人修", "打不开", "不出水",
          "经常断", "很脏", "涨价了", "不够用", "开得太晚", "关得太早", "有异味", "不安全"]
EXTRAS = ["请尽快维修", "影响学习", "洗澡很不方便", "已经反映过好几次", "希望尽快解决",
          "晚上很黑", "同学们意见很大", "严重影响休息", "报修电话打不通", "宿管说不归他们管",
          "考试周很着急", "天气冷受不了", "周末也一样", "不知道找谁", ""]
CATEGORIES = ["logistics", "education", "security", "finance", "student_status"]


def complaint(rng: random.Random) -> str:
    parts = [rng.choice(PLACES), "的", rng.choice(FACILITIES), rng.choice(FAULTS), ",",
             rng.choice(EXTRAS)]
    if rng.random() < 0.5:
        parts += [",", rng.choice(EXTRAS)]
    return "".join(parts)


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(p / 100 * (len(ordered) - 1))))]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("-n", type=int, default=20_000, help="cases in the index")
    parser.add_argument("-q", type=int, default=500, help="queries to time")
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args()
    rng = random.Random(args.seed)

    started = time.perf_counter()
    warm_up()
    print(f"jieba dictionary loaded in {time.perf_counter() - started:.2f} s")

    texts = [complaint(rng) for _ in range(args.n)]
    index = SimilarityIndex()
    started = time.perf_counter()
    for n, text in enumerate(texts):
        index.add(f"case-{n}", text, category=rng.choice(CATEGORIES))
    build = time.perf_counter() - started
    started = time.perf_counter()
    index.rebuild()
    rebuild = time.perf_counter() - started
    print(f"indexed {len(index)} cases in {build:.2f} s "
          f"({build / args.n * 1e3:.3f} ms per add); one IDF rebuild {rebuild * 1e3:.0f} ms")

    queries = [complaint(rng) for _ in range(args.q)]
    started = time.perf_counter()
    for text in queries:
        tokens(text)
    tokenise = (time.perf_counter() - started) / args.q

    durations, found = [], 0
    for text in queries:
        started = time.perf_counter()
        matches = index.similar(text)
        durations.append(time.perf_counter() - started)
        found += bool(matches)
    ms = [d * 1e3 for d in durations]
    print(f"similar(): {args.q} queries, p50 {percentile(ms, 50):.2f} ms, "
          f"p95 {percentile(ms, 95):.2f} ms, max {max(ms):.2f} ms "
          f"(of which tokenising {tokenise * 1e3:.2f} ms); {found} found a match >= 0.3")

    # Filing and searching alternate, as in the service: add, then look for its neighbours.
    started = time.perf_counter()
    for n, text in enumerate(queries):
        index.add(f"new-{n}", text, category=rng.choice(CATEGORIES))
        index.similar_to(f"new-{n}")
    mixed = (time.perf_counter() - started) / args.q
    print(f"add + similar_to, alternating: {mixed * 1e3:.2f} ms per filing "
          f"(IDF rebuilds amortised)")
    print(f"python {platform.python_version()} on {platform.machine()}, "
          f"{platform.processor() or platform.platform()}")


if __name__ == "__main__":
    main()
