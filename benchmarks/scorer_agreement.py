"""How often the `choice` scorer reads the same letter from a generation as the MMLU-Pro authors'
published `pred` field, over every record of the outputs in ../shared (29 models x 12,032).

    python benchmarks/scorer_agreement.py --data ../shared/data/mmlu-pro-outputs \
        --out benchmarks/results/scorer-agreement.json

A null `pred` (no parsable answer) agrees when the scorer also finds no letter. The official
script random-guesses a letter when it finds none, and some files keep those guesses as `pred`;
`agreement_where_pred_was_read` leaves out the records where no pattern matches at all.
"""

from __future__ import annotations

import argparse
import json
import time
import zipfile
from pathlib import Path

from locus.scorers import text_scorer


def records(path: Path) -> list[dict]:
    with zipfile.ZipFile(path) as archive:
        name = next(n for n in archive.namelist() if n.endswith(".json"))
        return [r for r in json.loads(archive.read(name)) if isinstance(r, dict)]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", type=Path, default=Path("../shared/data/mmlu-pro-outputs"))
    parser.add_argument("--out", type=Path, default=Path("benchmarks/results/scorer-agreement.json"))
    args = parser.parse_args()
    scorer = text_scorer("choice")
    per_model, total, agree, seconds, disagreements, guessed = {}, 0, 0, 0.0, [], 0
    for path in sorted(args.data.glob("model_outputs_*_5shots.zip")):
        rows = records(path)
        outputs = [r.get("model_outputs") or r.get("generated_text") or "" for r in rows]
        start = time.perf_counter()
        found = [scorer.extract(o) for o in outputs]
        seconds += time.perf_counter() - start
        same = [f == r.get("pred") for f, r in zip(found, rows, strict=True)]
        guessed += sum(f is None and r.get("pred") is not None for f, r in zip(found, rows, strict=True))
        model = path.name.removeprefix("model_outputs_").removesuffix("_5shots.zip")
        per_model[model] = sum(same) / len(same)
        total, agree = total + len(same), agree + sum(same)
        disagreements += [{"model": model, "question_id": r["question_id"], "pred": r.get("pred"), "read": f,
                           "tail": o[-200:]} for f, r, o, s in zip(found, rows, outputs, same, strict=True)
                          if not s][:3]
    report = {"records": total, "agreement": agree / total, "guessed_by_upstream": guessed,
              "agreement_where_pred_was_read": agree / (total - guessed), "rows_per_second": total / seconds,
              "per_model": per_model, "examples_of_disagreement": disagreements[:20]}
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=2))
    print(f"{agree}/{total} records agree ({agree / total:.4f}); {agree}/{total - guessed} "
          f"({agree / (total - guessed):.4f}) leaving out {guessed} upstream guesses; {total / seconds:,.0f} rows/s")
    for model, share in sorted(per_model.items(), key=lambda x: x[1])[:5]:
        print(f"  lowest: {model} {share:.4f}")


if __name__ == "__main__":
    main()
