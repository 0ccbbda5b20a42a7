"""The quick start, end to end: `cairn init`, `cairn run example`, then inspect the run."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from support import CLI

pytestmark = pytest.mark.skipif(
    shutil.which("Rscript") is None,
    reason="R is not installed (the test command installs r-base-core and r-cran-jsonlite "
    "from Debian's packages when it runs as root)")


def test_init_run_and_inspect_the_example(tmp_path: Path, cli: type[CLI]) -> None:
    cli.run("init", "shop", cwd=tmp_path, check=True)
    shop = tmp_path / "shop"

    run = cli.run("run", "example", cwd=shop, check=True)
    for block in ("load_customers", "load_orders", "clean_orders", "orders_enriched",
                  "new_orders", "revenue_by_region", "customer_scores", "top_customers",
                  "report"):
        assert f"✓ {block} success" in run.stdout
    assert "Run summary" in run.stdout
    assert "kept 323 paid orders" in run.stdout  # block stdout is shown live
    assert "323 new orders since the first run" in run.stdout
    again = cli.run("run", "example", cwd=shop, check=True)  # incremental: nothing new
    assert "0 new orders since 2026-" in again.stdout

    report = (shop / "output" / "revenue_by_region.csv").read_text().splitlines()
    assert report[0] == "region,orders,revenue,average_order,active_months"
    assert len(report) == 5

    shown = cli.run("show", "example", "revenue_by_region", "--format", "json", cwd=shop,
                    check=True)
    rows = json.loads(shown.stdout)
    assert {r["region"] for r in rows} == {"north", "south", "east", "west"}
    assert sum(r["orders"] for r in rows) == 323

    csv = cli.run("show", "example", "clean_orders", "--format", "csv", "--limit", "3",
                  cwd=shop, check=True)
    assert csv.stdout.splitlines()[0].startswith("order_id,customer_id,order_date,amount")
    assert len(csv.stdout.splitlines()) == 4

    table = cli.run("show", "example", "report", cwd=shop, check=True)
    assert "'regions': 4" in table.stdout

    # Python -> R -> SQL: the R block's scores joined with the customers in DuckDB.
    top = json.loads(cli.run("show", "example", "top_customers", "--format", "json",
                             cwd=shop, check=True).stdout)
    assert len(top) == 10 and top[0]["spent"] >= top[-1]["spent"]
    assert {"customer_id", "name", "region", "orders", "spent", "score"} <= set(top[0])
    assert "scored 59 customers" in run.stdout  # R's message() reached the live log

    run_id = next((shop / ".cairn" / "runs").iterdir()).name
    runs = cli.run("runs", "example", cwd=shop, check=True)
    assert run_id in runs.stdout
    assert "success" in runs.stdout and "9/9 ok" in runs.stdout
    assert "no runs yet" in cli.run("runs", "other", cwd=shop, check=True).stdout


def test_logs_of_a_run(tmp_path: Path, cli: type[CLI]) -> None:
    cli.run("init", "shop", cwd=tmp_path, check=True)
    shop = tmp_path / "shop"
    cli.run("run", "example", "--quiet", cwd=shop, check=True)
    run_id = next((shop / ".cairn" / "runs").iterdir()).name

    logs = cli.run("logs", run_id[:12], "clean_orders", cwd=shop, check=True)
    assert "kept 323 paid orders, dropped 77" in logs.stdout
    everything = cli.run("logs", run_id, cwd=shop, check=True)
    assert "read 400 orders" in everything.stdout  # context.logger output of load_orders
    assert "loaded 60 customers" in everything.stdout

    unknown = cli.run("logs", run_id, "clean_ordres", cwd=shop)
    assert unknown.returncode == 2
    assert "clean_orders" in unknown.stderr


def test_init_refuses_a_folder_with_files(tmp_path: Path, cli: type[CLI]) -> None:
    (tmp_path / "busy").mkdir()
    (tmp_path / "busy" / "notes.txt").write_text("mine")
    result = cli.run("init", "busy", cwd=tmp_path)
    assert result.returncode == 2
    assert "not empty" in result.stderr
    assert (tmp_path / "busy" / "notes.txt").read_text() == "mine"
