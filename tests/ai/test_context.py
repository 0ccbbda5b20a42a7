"""The context sent to a model: real schemas of a real run, no secrets, rows only if allowed."""

from __future__ import annotations

import pytest
from support import CLI, ProjectFolder

from cairn.ai.context import build_context
from cairn.errors import CairnError

PASSWORD = "hunter2-s3cret"
EMAIL = "alice@example.org"


@pytest.fixture
def shop(project: ProjectFolder, cli: type[CLI]) -> ProjectFolder:
    (project.root / "io_config.yaml").write_text(
        "default:\n"
        "  pg:\n    kind: postgres\n    host: db.internal\n    user: app\n"
        f"    password: {PASSWORD}\n    database: shop\n"
        "  lake:\n    kind: files\n    url: s3://private-bucket/prefix\n")
    project.pipeline("shop", {
        "customers.py": f"""
            import pandas as pd
            customers = pd.DataFrame({{"email": ["{EMAIL}", "bob@example.org"],
                                       "spent": [12.5, 3.0], "visits": [3, 1]}})
        """,
        "big_spenders.sql": "SELECT email, spent FROM customers WHERE spent > {{ var('min') }}\n",
        "report.py": """
            from cairn import block

            @block
            def report(big_spenders):
                return len(big_spenders)
        """,
    }, settings="variables:\n  min: 5\n")
    cli.run("run", "shop", cwd=project.root, check=True)
    return project


def test_context_has_the_schemas_blocks_and_connections(shop: ProjectFolder) -> None:
    context = build_context(shop.load(), "shop", "python")
    assert context.schemas["customers"] == [
        {"name": "email", "type": "str"}, {"name": "spent", "type": "float64"},
        {"name": "visits", "type": "int64"}]
    # The SQL block's table is read from the warehouse with no rows.
    assert [c["name"] for c in context.schemas["big_spenders"]] == ["email", "spent"]
    assert context.schemas["report"] == [{"name": "", "type": "int"}]
    assert context.blocks == [  # display order: the DAG's without a `blocks:` list
        {"name": "customers", "language": "python", "defines": ["customers"], "reads": []},
        {"name": "big_spenders", "language": "sql", "defines": ["big_spenders"],
         "reads": ["customers"]},
        {"name": "report", "language": "python", "defines": ["report"],
         "reads": ["big_spenders"]},
    ]
    assert context.variables == ["min"]
    assert context.connections == [{"kind": "files", "name": "lake"},
                                   {"kind": "postgres", "name": "pg"},
                                   {"kind": "duckdb", "name": "warehouse"}]
    assert context.samples == {} and context.history == [] and context.target is None
    text = context.render()
    assert "`customers`: email str, spent float64, visits int64" in text
    assert "@block" in text  # the Python contract
    assert "- `pg`: postgres" in text


def test_context_never_holds_secrets_or_rows(shop: ProjectFolder) -> None:
    context = build_context(shop.load(), "shop", "sql")
    for text in (context.render(), repr(context.as_dict())):
        assert PASSWORD not in text
        assert "db.internal" not in text and "private-bucket" not in text
        assert EMAIL not in text and "12.5" not in text


def test_rows_are_sent_only_when_the_project_allows_samples(shop: ProjectFolder) -> None:
    (shop.root / "cairn.yaml").write_text(
        "name: test\nai:\n  provider:\n    kind: openai\n    url: http://127.0.0.1:9/v1\n"
        "    model: m\n    send_samples: true\n")
    context = build_context(shop.load(), "shop", "python")
    assert context.samples["customers"][0] == {"email": EMAIL, "spent": 12.5, "visits": 3}
    assert context.samples["big_spenders"] == [{"email": EMAIL, "spent": 12.5}]
    assert EMAIL in context.render()
    assert PASSWORD not in context.render()


def test_render_is_deterministic(shop: ProjectFolder) -> None:
    first = build_context(shop.load(), "shop", "r").render()
    assert build_context(shop.load(), "shop", "r").render() == first
    assert first.index("`customers` (python)") < first.index("`big_spenders` (sql)")


def test_fix_context_has_history_and_the_target_failure(shop: ProjectFolder,
                                                         cli: type[CLI]) -> None:
    broken = shop.root / "pipelines" / "shop" / "report.py"
    broken.write_text("from cairn import block\n\n@block\ndef report(big_spenders):\n"
                      "    return big_spenders['missing_column']\n")
    assert cli.run("run", "shop", cwd=shop.root).returncode != 0
    context = build_context(shop.load(), "shop", "python", target="report", with_history=True)
    assert [r["status"] for r in context.history] == ["failed", "success"]
    assert context.history[0]["block"] == "report"
    assert context.target is not None
    assert "missing_column" in context.target["error"]
    assert context.target["source"] == broken.read_text()
    text = context.render()
    assert "## The block `report` (python)" in text and "Its latest failure" in text


def test_unknown_target_and_language_are_errors(shop: ProjectFolder) -> None:
    with pytest.raises(CairnError, match="repot"):
        build_context(shop.load(), "shop", "python", target="repot")
    with pytest.raises(CairnError) as raised:
        build_context(shop.load(), "shop", "cobol")
    assert raised.value.problems[0].kind == "unknown-language"


def test_a_pipeline_never_run_has_no_schemas(project: ProjectFolder) -> None:
    project.pipeline("fresh", {"a.py": "a = 1\n"})
    context = build_context(project.load(), "fresh", "python")
    assert context.schemas == {} and "(no successful run yet)" in context.render()
