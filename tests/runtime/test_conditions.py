"""Conditions and trigger rules: which blocks run, which are skipped, and why."""

from __future__ import annotations

from typing import Any

import pytest
from support import CLI, ProjectFolder, RecordingObserver

from cairn import service
from cairn.project.conditions import evaluate, gate
from cairn.store.metadata import MetadataStore

S, F, U, K = "success", "failed", "upstream_failed", "skipped"


@pytest.mark.parametrize(("rule", "parents", "expected"), [
    ("all_success", {"a": S, "b": S}, None),
    ("all_success", {"a": S, "b": F}, U),
    ("all_success", {"a": S, "b": K}, K),
    ("all_success", {"a": U, "b": K}, U),
    ("none_failed", {"a": S, "b": K}, None),
    ("none_failed", {"a": K, "b": K}, None),
    ("none_failed", {"a": S, "b": F}, U),
    ("one_success", {"a": F, "b": S}, None),
    ("one_success", {"a": F, "b": K}, U),
    ("one_success", {"a": K, "b": K}, K),
    ("all_done", {"a": F, "b": K}, None),
    ("all_success", {}, None),
])
def test_trigger_rules(rule: Any, parents: dict[str, str], expected: str | None) -> None:
    verdict = gate(rule, parents)
    assert (verdict[0] if verdict else None) == expected


@pytest.mark.parametrize(("expression", "expected"), [
    ("mode == 'full'", True),
    ("mode != 'full' or count > 2", True),
    ("not (count > 2 and mode == 'full')", False),
    ("len(rows) >= 3 and rows[0] == 1", True),
    ("count * 2 - 1 in [5, 7]", True),
    ("max(rows) < 3", False),
])
def test_run_if_expressions(expression: str, expected: bool) -> None:
    names = {"mode": "full", "count": 3, "rows": [1, 2, 3]}
    assert evaluate(expression, names.__getitem__) is expected


@pytest.mark.parametrize("expression", [
    "__import__('os').system('true')", "rows.clear()", "open('x')", "[r for r in rows]",
    "lambda: 1",
])
def test_run_if_refuses_anything_else(expression: str) -> None:
    with pytest.raises(ValueError, match=r"not allowed|may only call"):
        evaluate(expression, {"rows": [1]}.__getitem__)


def history(project: ProjectFolder, run_id: str) -> dict[str, tuple[str, str | None]]:
    store = MetadataStore(project.load().metadata_url)
    try:
        return {r.block: (r.status, r.error) for r in store.block_runs(run_id)}
    finally:
        store.close()


def test_run_if_and_condition_blocks(project: ProjectFolder,
                                     observer: RecordingObserver) -> None:
    project.pipeline("p", {
        "rows.py": "rows = [1, 2, 3]\n",
        "full_only.py": "full_only = len(rows)\n",
        "small_only.py": "small_only = 0\n",
        "has_data.py": "has_data = len(rows) > 10\n",
        "heavy.py": "heavy = has_data\n",
        "report.py": "report = 'done'\n",
    }, """
        variables: {mode: full}
        blocks:
          - name: full_only
            run_if: "mode == 'full' and len(rows) == 3"
          - name: small_only
            run_if: "mode == 'small'"
          - name: has_data
            condition: true
          - heavy
          - name: report
            upstream: [heavy, small_only]
            trigger_rule: none_failed
    """)
    result = service.run_pipeline(project.load(), "p", observer)
    assert result.status == "success"
    assert result.blocks == {"rows": S, "full_only": S, "small_only": K, "has_data": S,
                             "heavy": K, "report": S}
    recorded = history(project, result.run_id)
    assert recorded["small_only"] == (K, "not run: run_if `mode == 'small'` is false")
    assert recorded["heavy"] == (K, "not run: the condition has_data was false")

    again = service.run_pipeline(project.load(), "p", observer, variables={"mode": "small"})
    assert again.blocks["full_only"] == K and again.blocks["small_only"] == S


def test_one_success_and_all_done_run_after_a_failure(project: ProjectFolder,
                                                      observer: RecordingObserver) -> None:
    project.pipeline("p", {
        "good.py": "good = 1\n",
        "bad.py": "bad = 1 / 0\n",
        "either.py": "either = 1\n",
        "cleanup.py": "cleanup = 1\n",
        "strict.py": "strict = 1\n",
    }, """
        blocks:
          - {name: either, upstream: [good, bad], trigger_rule: one_success}
          - {name: cleanup, upstream: [bad], trigger_rule: all_done}
          - {name: strict, upstream: [good, bad]}
    """)
    result = service.run_pipeline(project.load(), "p", observer)
    assert result.status == "failed"  # bad failed
    assert result.blocks == {"either": S, "cleanup": S, "strict": U, "good": S, "bad": F}


def test_a_broken_run_if_is_reported(project: ProjectFolder, cli: type[CLI]) -> None:
    project.pipeline("p", {"a.py": "a = 1\n"},
                     "blocks:\n  - name: a\n    run_if: \"mode ==\"\n")
    result = cli.run("run", "p", cwd=project.root)
    assert result.returncode == 2
    assert "pipeline.yaml:3" in result.stderr and "run_if is not an expression" in result.stderr


def test_run_if_naming_nothing_fails_the_block(project: ProjectFolder, cli: type[CLI]) -> None:
    project.pipeline("p", {"a.py": "a = 1\n"}, "blocks:\n  - name: a\n    run_if: nope\n")
    result = cli.run("run", "p", cwd=project.root)
    assert result.returncode == 1
    assert "run_if `nope` failed: NameError" in result.stdout


def test_graph_shows_conditions(project: ProjectFolder, cli: type[CLI]) -> None:
    import json

    project.pipeline("p", {"a.py": "a = True\n", "b.py": "b = a\n"},
                     "blocks:\n  - {name: a, condition: true}\n"
                     "  - {name: b, run_if: \"a\", trigger_rule: none_failed}\n")
    document = json.loads(cli.run("graph", "p", "--format", "json", cwd=project.root,
                                  check=True).stdout)
    assert document["blocks"] == [
        {"name": "a", "language": "python", "file": str(project.root / "pipelines/p/a.py"),
         "condition": True},
        {"name": "b", "language": "python", "file": str(project.root / "pipelines/p/b.py"),
         "run_if": "a", "trigger_rule": "none_failed"},
    ]
    text = cli.run("graph", "p", cwd=project.root, check=True).stdout
    assert "b [python] <- a (a)  (run_if: a, trigger_rule: none_failed)" in text


def test_a_join_reads_a_skipped_branch_as_none_never_an_earlier_run(
        project: ProjectFolder, observer: RecordingObserver) -> None:
    project.pipeline("p", {
        "optional.py": "optional = 'from ' + mode\n",
        "broken.py": "broken = 1 / (mode == 'full')\n",
        "join.py": "join = [optional, broken]\n",
    }, """
        variables: {mode: light}
        blocks:
          - name: optional
            run_if: "mode == 'full'"
          - broken
          - name: join
            trigger_rule: all_done
    """)
    # The project's first run: the branch never succeeded, and the join still runs.
    first = service.run_pipeline(project.load(), "p", observer)
    assert first.blocks == {"optional": K, "broken": F, "join": S}
    assert service.read_output(project.load(), "p", "join") == {"join": [None, None]}

    full = service.run_pipeline(project.load(), "p", observer, variables={"mode": "full"})
    assert full.status == "success"
    assert service.read_output(project.load(), "p", "join") == {"join": ["from full", 1.0]}

    # Skipped and failed again: the join sees them absent, not the values of the run before.
    again = service.run_pipeline(project.load(), "p", observer)
    assert again.blocks == {"optional": K, "broken": F, "join": S}
    assert service.read_output(project.load(), "p", "join") == {"join": [None, None]}

    # A block run alone reads its parents' latest successful outputs.
    alone = service.run_pipeline(project.load(), "p", observer, blocks=["join"])
    assert alone.status == "success"
    assert service.read_output(project.load(), "p", "join") == {"join": ["from full", 1.0]}
