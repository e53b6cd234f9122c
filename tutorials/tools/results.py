"""`make results`: run the tutorial chapters in full and rewrite the README's results table from
what they print, so the table cannot go stale.

    python tutorials/tools/results.py                          # every chapter, one after another
    python tutorials/tools/results.py quickstart 02_cnn        # only these; the others keep their row
    python tutorials/tools/results.py --table                  # rewrite the table from the stored measurements

Each chapter ends with `report(...)` (tutorials/common.py), which prints

    == 02 CNN: done in 6 s
       CNN test accuracy: 0.9777
       ...
       pictures in ...

This script runs the chapter as its own process, reads that block, times the whole process
(imports included) and notes the load average. The measurements are kept in the README itself, as
JSON in a comment between the two `results` markers (a chapter not run again keeps its last
measurement and the date it was made), and the table beside them is made from them alone: one
file holds both, so nothing generated sits in git apart from the README.
"""
from __future__ import annotations

import datetime
import json
import os
import re
import subprocess
import sys
import time
from pathlib import Path

TUTORIALS = Path(__file__).resolve().parent.parent
ROOT = TUTORIALS.parent
README = ROOT / "README.md"
BEGIN = "<!-- results:begin - made by `make results` (tutorials/tools/results.py) -->"
END = "<!-- results:end -->"
DATA = "<!-- results:measurements"  # opens the comment that holds the measurements as JSON

# what each chapter trains: the table's second column (the results come from the runs)
CHAPTERS = {
    "quickstart": "CNN on 8x8 digits, Adam, 15 epochs",
    "01_backprop": "hand-written Linear/ReLU/Sigmoid backward vs autograd; MLP on XOR and digits",
    "02_cnn": "CNN(1, 32, 10) vs MLP on digits; receptive fields, saliency",
    "03_optimizers": "SGD, Momentum, RMSProp, Adam from one init; EWMA",
    "04_regularization": "learning curves; L2, L1, early stopping, input noise, label smoothing, dropout",
    "05_rnn": "Elman, GRU, LSTM cells written in the chapter, reversing digits; gradient norms over time",
    "06_transformers": "attention, heads, positional encoding and block written in the chapter; causal "
                       "transformer reversing digits; attention maps",
    "07_unsupervised": "auto-encoder, VAE and GAN written in the chapter; digits and a 2-D toy",
    "08_compile": "mg.compile taken apart: eager cost per op, the tracer's record of a small model, replay of "
                  "an MLP and an LSTM (bit-identical to eager), recomputed masks, fallbacks, signature cache",
}
_REPORT = re.compile(r"^== (?P<title>.+?): done in (?P<seconds>[\d.]+) s(?P<smoke> \(smoke run\))?$")


def parse_report(stdout: str) -> dict:
    """The last `report(...)` block of a chapter's output: {"title", "seconds", "results": {key: text}}."""
    lines = stdout.splitlines()
    starts = [i for i, line in enumerate(lines) if _REPORT.match(line.strip())]
    if not starts:
        raise ValueError("no '== <chapter>: done in N s' line: the chapter did not reach report(...)")
    match = _REPORT.match(lines[starts[-1]].strip())
    results = {}
    for line in lines[starts[-1] + 1:]:
        if not line.startswith("   ") or line.strip().startswith("pictures in "):
            break
        key, _, value = line.strip().partition(": ")
        results[key] = value
    return {"title": match["title"], "seconds": float(match["seconds"]), "smoke": bool(match["smoke"]),
            "results": results}


def run(chapter: str, timeout: int = 3600) -> dict:
    """Run tutorials/<chapter>.py in full; its report, wall time and the load average around it."""
    env = {k: v for k, v in os.environ.items() if k != "MINIGRAD_SMOKE"}
    env["MPLBACKEND"] = "Agg"
    load_before = os.getloadavg()[0]
    start = time.perf_counter()
    done = subprocess.run([sys.executable, str(TUTORIALS / f"{chapter}.py")], cwd=TUTORIALS, env=env,
                          capture_output=True, text=True, timeout=timeout)
    wall = time.perf_counter() - start
    if done.returncode != 0:
        raise RuntimeError(f"{chapter} exited with {done.returncode}:\n{done.stdout[-2000:]}\n{done.stderr[-3000:]}")
    report = parse_report(done.stdout)
    report.update(wall_seconds=round(wall, 1), load=round(max(load_before, os.getloadavg()[0]), 1),
                  cpus=os.cpu_count(), date=datetime.date.today().isoformat())
    return report


def _value(key: str, text: str) -> str:
    """A printed value for the table: accuracies and error rates (fractions) as percentages."""
    try:
        number = float(text)
    except ValueError:
        return text
    if ("accuracy" in key or "error" in key and "squared" not in key) and 0 <= number <= 1:
        return f"{100 * number:.1f}%"
    return text


def chapters() -> dict:
    """chapter -> what it trains: the ones above, then any other tutorial (its first heading)."""
    found = dict(CHAPTERS)
    for path in sorted(TUTORIALS.glob("[0-9]*.py")):
        if path.stem not in found:
            heading = next((line[4:].strip() for line in path.read_text().splitlines() if line.startswith("# # ")), "")
            found[path.stem] = heading
    return found


def table(measured: dict) -> str:
    rows = ["| chapter | what it trains | result | time |", "|---|---|---|---|"]
    for chapter, what in chapters().items():
        entry = measured.get(chapter)
        if entry is None:
            rows.append(f"| {chapter} | {what} | not measured yet | |")
            continue
        result = "; ".join(f"{key} {_value(key, value)}" for key, value in entry["results"].items())
        time_text = f"{entry['wall_seconds']:.0f} s"
        rows.append(f"| {chapter} | {what} | {result} | {time_text} ({entry['date']}, load {entry['load']:g}) |")
    note = ("Times are wall-clock seconds of the whole process (imports included) on a "
            f"{max(e['cpus'] for e in measured.values()) if measured else '?'}-core machine, one BLAS thread, "
            "with the date of the run and the 1-minute load average around it (other jobs on the machine "
            "slow a run down roughly in proportion to the load above the core count).")
    return "\n".join(rows) + "\n\n" + note


def _between_markers(text: str) -> tuple:
    """(text before BEGIN, what lies between the markers, text after END)."""
    if BEGIN not in text or END not in text:
        raise SystemExit(f"README.md has no results markers ({BEGIN!r} ... {END!r})")
    head, rest = text.split(BEGIN, 1)
    inside, tail = rest.split(END, 1)
    return head, inside, tail


def stored_measurements() -> dict:
    """The measurements kept in the README's comment between the markers ({} if none yet)."""
    _, inside, _ = _between_markers(README.read_text())
    if DATA not in inside:
        return {}
    return json.loads(inside.split(DATA, 1)[1].split("-->", 1)[0])


def rewrite_readme(measured: dict) -> None:
    head, _, tail = _between_markers(README.read_text())
    # one line a chapter: the comment stays as short as the table
    data = "{\n" + ",\n".join(f"{json.dumps(k)}: {json.dumps(v, sort_keys=True)}"
                               for k, v in sorted(measured.items())) + "\n}"
    README.write_text(f"{head}{BEGIN}\n{DATA}\n{data}\n-->\n{table(measured)}\n{END}{tail}")


def main(argv: list) -> int:
    measured = stored_measurements()
    if argv != ["--table"]:
        known = chapters()
        chosen = argv or list(known)
        unknown = [c for c in chosen if c not in known]
        if unknown:
            raise SystemExit(f"unknown chapters {unknown}; choose from {list(known)}")
        for chapter in chosen:
            print(f"running {chapter} ...", flush=True)
            try:
                measured[chapter] = run(chapter)
            except (RuntimeError, ValueError, subprocess.TimeoutExpired) as error:
                print(f"{chapter}: no new measurement ({error})", flush=True)
                continue
            print(f"{chapter}: {measured[chapter]['wall_seconds']} s, {measured[chapter]['results']}", flush=True)
            rewrite_readme(measured)  # after each chapter, so a later failure loses nothing
    rewrite_readme(measured)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
