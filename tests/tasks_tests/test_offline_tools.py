"""``manage.py aggregate`` and ``manage.py replay`` on small files; no test here may touch the database."""

import csv
import os
import subprocess
import sys
from pathlib import Path

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError


def write(path, text):
    path.write_text(text, encoding="utf-8")
    return str(path)


@pytest.fixture
def crowd_files(tmp_path):
    rows = ["worker,item,label"]
    gold = ["item,label"]
    for i in range(30):
        truth = "yes" if i % 3 else "no"
        gold.append(f"i{i},{truth}")
        for w in range(5):
            wrong = "no" if truth == "yes" else "yes"
            rows.append(f"w{w},i{i},{truth if (i + w) % 5 else wrong}")
    return write(tmp_path / "answers.csv", "\n".join(rows) + "\n"), write(tmp_path / "gold.csv", "\n".join(gold) + "\n")


def test_aggregate_writes_item_label_confidence(crowd_files, tmp_path, capsys):
    answers, gold = crowd_files
    out = tmp_path / "results.csv"
    call_command("aggregate", answers, "--gold", gold, "--out", str(out))
    with open(out, newline="") as handle:
        rows = list(csv.DictReader(handle))
    assert list(rows[0]) == ["item", "label", "confidence"]
    assert len(rows) == 30
    assert all(0 < float(r["confidence"]) <= 1 for r in rows)
    assert "accuracy on 30 gold items: 1.0000" in capsys.readouterr().out


def test_duplicate_rows_keep_the_last_answer(tmp_path, capsys):
    answers = write(tmp_path / "a.csv", "worker,item,label\nw1,x,no\nw2,x,yes\nw1,x,yes\n")
    out = tmp_path / "r.csv"
    call_command("aggregate", answers, "--method", "mv", "--out", str(out))
    assert out.read_text().splitlines()[1] == "x,yes,1.000000"
    assert "1 repeated (worker, item) rows replaced by the later answer" in capsys.readouterr().out


@pytest.mark.parametrize(
    "text, where",
    [
        ("worker,item\nw,i\n", "line 1, field 'label': the header lacks the column 'label'"),
        ("worker,item,label\nw,i,a\nw2,,b\n", "line 3, field 'item': the value is empty"),
        ("worker,item,label\nw,i,a\nw2,i\n", "line 3: expected 3 fields, found 2"),
        ("", "line 1: the file is empty"),
        ("worker,item,label\n", "line 2: the file has a header but no answers"),
    ],
)
def test_aggregate_names_file_line_and_field_of_a_malformed_file(tmp_path, text, where):
    answers = write(tmp_path / "bad.csv", text)
    with pytest.raises(CommandError) as error:
        call_command("aggregate", answers, "--out", str(tmp_path / "r.csv"))
    assert f"bad.csv, {where}" in str(error.value)


def test_a_missing_file_and_a_bad_gold_file_are_reported(tmp_path, crowd_files):
    answers, _ = crowd_files
    with pytest.raises(CommandError, match="nope.csv: cannot open the file"):
        call_command("aggregate", str(tmp_path / "nope.csv"), "--out", str(tmp_path / "r.csv"))
    gold = write(tmp_path / "gold.csv", "item,label\ni1,yes\ni1,no\n")
    with pytest.raises(CommandError, match="gold.csv, line 3, field 'label': item 'i1' has two different gold labels"):
        call_command("replay", answers, "--gold", gold, "--policy", "adaptive")


def test_numbers_that_are_not_numbers_are_reported(tmp_path):
    answers = write(tmp_path / "n.csv", "worker,item,label\nw,i,3\nw2,i,three\n")
    with pytest.raises(CommandError, match="'three' .* is not a finite number"):
        call_command("aggregate", answers, "--kind", "number", "--out", str(tmp_path / "r.csv"))


def test_replay_prints_accuracy_and_answers_used(crowd_files, capsys):
    answers, gold = crowd_files
    call_command("replay", answers, "--gold", gold, "--policy", "fixed:3", "--seed", "1")
    line = capsys.readouterr().out.strip()
    assert "policy=fixed:3" in line and "answers_per_item=3.00" in line and "gold_items=30" in line
    call_command("replay", answers, "--gold", gold, "--policy", "adaptive", "--target", "0.9")
    assert "accuracy=" in capsys.readouterr().out


@pytest.mark.parametrize("policy", ["fixed:0", "fixed:x", "sometimes"])
def test_replay_refuses_a_bad_policy(crowd_files, policy):
    answers, gold = crowd_files
    with pytest.raises(CommandError, match="--policy"):
        call_command("replay", answers, "--gold", gold, "--policy", policy)


def test_the_commands_run_without_a_reachable_database(crowd_files, tmp_path):
    """Pure file tools: a PostgreSQL URL that nothing listens on must not matter, and errors carry no traceback."""
    answers, gold = crowd_files
    env = {**os.environ, "DATABASE_URL": "postgres://nobody@127.0.0.1:9/none", "REDIS_URL": "redis://127.0.0.1:9/0"}
    manage = [sys.executable, str(Path(__file__).resolve().parents[2] / "manage.py")]
    ok = subprocess.run(
        [*manage, "replay", answers, "--gold", gold, "--policy", "adaptive"], env=env, capture_output=True, text=True
    )
    assert ok.returncode == 0, ok.stderr
    assert "accuracy=" in ok.stdout
    bad = write(tmp_path / "bad.csv", "worker,item,label\nw,i\n")
    failed = subprocess.run(
        [*manage, "aggregate", bad, "--out", str(tmp_path / "r.csv")], env=env, capture_output=True, text=True
    )
    assert failed.returncode == 1
    assert "bad.csv, line 2: expected 3 fields, found 2" in failed.stderr and "Traceback" not in failed.stderr
