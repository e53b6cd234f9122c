"""tutorials/tools/results.py: a chapter's report(...) block is read back, and the README's table
between the markers is made from the stored measurements alone."""
import importlib.util
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


def _tool():
    spec = importlib.util.spec_from_file_location("tutorial_results", ROOT / "tutorials" / "tools" / "results.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


OUTPUT = """epoch  1: loss 0.4
== 02 CNN: done in 6 s
   dataset: digits
   CNN test accuracy: 0.9777
   CNN parameters: 30634
   pictures in /tmp/x: a.png, b.svg
trailing line
"""


def test_the_last_report_block_is_read_with_its_keys_and_values():
    tool = _tool()
    report = tool.parse_report("== 02 CNN: done in 1 s (smoke run)\n   x: 1\n" + OUTPUT)
    assert report == {"title": "02 CNN", "seconds": 6.0, "smoke": False,
                      "results": {"dataset": "digits", "CNN test accuracy": "0.9777", "CNN parameters": "30634"}}
    with pytest.raises(ValueError, match="report"):  # a run that never reached report(...)
        tool.parse_report("Traceback (most recent call last):\n")


def test_the_table_is_made_from_the_measurements_and_only_between_the_markers(tmp_path, monkeypatch):
    tool = _tool()
    measured = {"02_cnn": dict(tool.parse_report(OUTPUT), wall_seconds=7.4, load=2.5, cpus=2, date="2026-01-02")}
    text = tool.table(measured)
    row = next(line for line in text.splitlines() if line.startswith("| 02_cnn |"))
    assert "CNN test accuracy 97.8%" in row and "CNN parameters 30634" in row and "7 s (2026-01-02, load 2.5)" in row
    assert "| quickstart |" in text and "not measured yet" in text
    readme = tmp_path / "README.md"
    readme.write_text(f"before\n{tool.BEGIN}\nold table\n{tool.END}\nafter\n")
    monkeypatch.setattr(tool, "README", readme)
    tool.rewrite_readme(measured)
    once = readme.read_text()
    assert once.startswith("before\n") and once.endswith("after\n") and "old table" not in once and row in once
    tool.rewrite_readme(measured)
    assert readme.read_text() == once  # idempotent
    assert tool.stored_measurements() == measured  # the measurements are kept beside the table
