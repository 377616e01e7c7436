"""The recipe table from runs saved by `python -m bench.recipe --out FILE`: one row per variant.

Each cell is the change (fine-tuned minus base, same class map) averaged over the seeds, with
the spread over seeds; below it every seed with its paired block intervals (the report's 10 s
blocks and 5 s blocks). Asserts nothing.

    .venv/bin/python -m bench.recipe_table /work/recipe/*.json
"""

import argparse
import json
from pathlib import Path

import numpy as np

SETS = ("dusk_heldout", "dusk_insample", "day_0016E5", "day_0006R0")


def load(paths: list[str]) -> dict[str, list[dict]]:
    """Rows grouped by variant, refusing a (variant, seed) found twice."""
    rows: dict[str, list[dict]] = {}
    for path in paths:
        for row in json.loads(Path(path).read_text()):
            seeds = [r["seed"] for r in rows.get(row["variant"], [])]
            if row["seed"] in seeds:
                raise SystemExit(f"{path}: {row['variant']} seed {row['seed']} is there twice")
            rows.setdefault(row["variant"], []).append(row)
    return rows


def _span(ci: list[float] | None) -> str:
    return f"[{ci[0]:+.3f}, {ci[1]:+.3f}]" if ci else "(no interval)"


def summary_line(variant: str, rows: list[dict]) -> str:
    """Markdown row: mean change (min..max over seeds) per set, kept iterations."""
    cells = [variant, str(len(rows)), ",".join(str(r["kept_iteration"]) for r in rows)]
    for name in SETS:
        changes = np.array([r[name]["change_miou"] for r in rows])
        cells.append(f"{changes.mean():+.3f} ({changes.min():+.3f}..{changes.max():+.3f})")
    sign = np.mean([r["dusk_heldout"]["change_iou"]["traffic sign"] for r in rows])
    car = np.mean([r["day_0006R0"]["change_iou"]["car"] for r in rows])
    cells += [f"{sign:+.3f}", f"{car:+.3f}", f"{np.mean([r['train_s'] for r in rows]):.0f}"]
    return "| " + " | ".join(cells) + " |"


def seed_lines(rows: list[dict]) -> list[str]:
    """Every seed: change per set with its 10 s and 5 s block intervals."""
    out = []
    for r in sorted(rows, key=lambda r: r["seed"]):
        cells = []
        for name in SETS:
            s = r[name]
            cells.append(
                f"{name} {s['change_miou']:+.3f} {_span(s['ci_miou'])} {s['n_blocks']}b"
                f" / {_span(s['ci_miou_alt'])} {s['n_blocks_alt']}b"
            )
        out.append(f"  seed {r['seed']} (kept {r['kept_iteration']}): " + "; ".join(cells))
    return out


def main() -> None:
    """Print the table and the per-seed lines."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("files", nargs="+")
    rows = load(parser.parse_args().files)
    print(
        "| variant | seeds | kept | held-out dusk | in-sample dusk | daylight 0016E5 |"
        " daylight 0006R0 | held-out sign IoU | 0006R0 car IoU | train s |"
    )
    print("|" + "---|" * 10)
    for variant, group in rows.items():
        print(summary_line(variant, group))
    for variant, group in rows.items():
        print(f"\n{variant}")
        print("\n".join(seed_lines(group)))


if __name__ == "__main__":
    main()
