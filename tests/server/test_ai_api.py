"""The generate, explain and fix API against a live `cairn serve`: templates with no model, and
a scripted OpenAI-compatible model on 127.0.0.1 (its repair round, what it was sent)."""

from __future__ import annotations

import re
from collections.abc import Iterator

import pytest
from ai.fake_llm import FakeLLM, FakeServer, Reply
from support import CLI, ProjectFolder, Server

PASSWORD = "hunter2-s3cret"
CUSTOMERS = """
    import pandas as pd
    customers = pd.DataFrame({"email": ["a@x.org", "a@x.org", "b@x.org"],
                              "updated_at": pd.to_datetime(["2024-01-01", "2024-02-01",
                                                            "2024-01-15"]),
                              "spent": [1.0, 2.0, 3.0]})
"""
REPORT = """
    from cairn import block

    @block
    def report(customers):
        return customers["missing_column"].sum()
"""
MODEL_BLOCK = """\
from cairn import block


@block
def big_customers(customers, context):
    context.logger.info("filtering %d customers", len(customers))
    return customers[customers["spent"] > 1.5]
"""


@pytest.fixture
def shop(project: ProjectFolder, cli: type[CLI]) -> ProjectFolder:
    """A pipeline that ran once (so its schemas are known), with a connection that has a
    password; `report` fails."""
    (project.root / "io_config.yaml").write_text(
        "default:\n  pg:\n    kind: postgres\n    host: db.internal\n    user: app\n"
        f"    password: {PASSWORD}\n    database: shop\n")
    project.pipeline("shop", {"customers.py": CUSTOMERS, "report.py": REPORT})
    assert cli.run("run", "shop", cwd=project.root).returncode != 0  # report fails
    return project


@pytest.fixture
def server(shop: ProjectFolder) -> Iterator[Server]:
    running = Server(shop.root)
    yield running
    running.stop()


@pytest.fixture
def model(shop: ProjectFolder) -> Iterator[tuple[Server, FakeLLM]]:
    with FakeServer() as fake:
        (shop.root / "cairn.yaml").write_text(
            f"name: test\nai:\n  provider:\n    kind: openai\n    url: {fake.url}\n"
            "    model: fake-coder\n    api_key_env: FAKE_KEY\n    retries: 0\n")
        with pytest.MonkeyPatch.context() as patch:
            patch.setenv("FAKE_KEY", "sk-test-key")
            running = Server(shop.root)
        yield running, fake
        running.stop()


def test_context_is_the_pipeline_without_secrets(server: Server) -> None:
    text = server.http.get("/api/pipelines/shop/generate/context",
                           params={"language": "sql"}).json()["text"]
    assert re.search(r"`customers`: email str, updated_at datetime64\[\w+\], spent float64", text)
    assert "- `pg`: postgres" in text
    assert "A SQL block" in text  # the SQL contract
    assert PASSWORD not in text and "db.internal" not in text and "a@x.org" not in text


def test_template_proposal_is_saved_through_the_block_routes_and_runs(
        server: Server, shop: ProjectFolder, cli: type[CLI]) -> None:
    answer = server.http.post("/api/pipelines/shop/generate", json={
        "description": "deduplicate customers by email keeping the latest",
        "name": "unique_customers"})
    assert answer.status_code == 200, answer.text
    proposal = answer.json()
    assert proposal["source"] == "template" and proposal["template"] == "deduplicate"
    assert proposal["attempts"] == 0 and proposal["problems"] == []
    assert (proposal["name"], proposal["language"]) == ("unique_customers", "python")
    folder = shop.root / "pipelines" / "shop"
    assert not list(folder.glob("unique_customers.*"))  # a proposal is not saved

    created = server.http.post("/api/pipelines/shop/blocks",
                               json={"name": "unique_customers", "language": "python"}).json()
    saved = server.http.put("/api/pipelines/shop/blocks/unique_customers",
                            json={"source": proposal["code"], "base_hash": created["hash"]})
    assert saved.status_code == 200, saved.text
    graph = server.http.get("/api/pipelines/shop").json()["graph"]
    assert {"from": "customers", "to": "unique_customers",
            "names": ["customers"]} in graph["edges"]
    assert graph["errors"] == []
    run = cli.run("run", "shop", "--block", "unique_customers", cwd=shop.root)
    assert run.returncode == 0, run.stdout + run.stderr


def test_no_model_explains_from_what_cairn_knows_and_cannot_fix(server: Server) -> None:
    text = server.http.post("/api/pipelines/shop/blocks/customers/explain").json()["text"]
    assert "No model is configured" in text
    assert "email" in text and "updated_at" in text  # the schema of its output
    fixed = server.http.post("/api/pipelines/shop/blocks/report/fix")
    assert fixed.status_code == 400
    assert fixed.json()["problems"][0]["kind"] == "no-provider"


def test_unknown_pipeline_block_and_template(server: Server) -> None:
    assert server.http.post("/api/pipelines/nope/generate",
                            json={"description": "deduplicate"}).status_code == 404
    assert server.http.post("/api/pipelines/shop/blocks/nope/explain").status_code == 404
    unknown = server.http.post("/api/pipelines/shop/generate",
                               json={"description": "compose a sonnet"})
    assert unknown.status_code == 400
    problem = unknown.json()["problems"][0]
    assert problem["kind"] == "no-template" and "deduplicate" in problem["hint"]


def test_model_answer_is_repaired_and_the_context_was_sent(
        model: tuple[Server, FakeLLM]) -> None:
    server, fake = model
    fake.script("```python\ndef big_customers(:\n```",  # does not parse: one repair round
                f"Here it is:\n```python\n{MODEL_BLOCK}```")
    answer = server.http.post("/api/pipelines/shop/generate", json={
        "description": "customers who spent more than 1.5", "name": "big_customers"})
    assert answer.status_code == 200, answer.text
    proposal = answer.json()
    assert proposal["source"] == "model" and proposal["template"] is None
    assert proposal["attempts"] == 2 and proposal["code"] == MODEL_BLOCK
    assert len(fake.requests) == 2
    first, repair = fake.requests
    assert first.path == "/v1/chat/completions"
    assert first.headers["authorization"] == "Bearer sk-test-key"
    sent = fake.sent_text(0)
    assert re.search(r"email str, updated_at datetime64\[\w+\], spent float64", sent)
    assert PASSWORD not in sent and "db.internal" not in sent and "a@x.org" not in sent
    assert repair.body["messages"][-1]["role"] == "user"
    assert "problems" in repair.body["messages"][-1]["content"]
    assert not list((server.root / "pipelines" / "shop").glob("big_customers.*"))


def test_model_fix_and_explain(model: tuple[Server, FakeLLM]) -> None:
    server, fake = model
    report = server.root / "pipelines" / "shop" / "report.py"
    before = report.read_text()
    corrected = before.replace('"missing_column"', '"spent"')
    fake.script(f"```python\n{corrected}```", "It sums what customers spent.")
    proposal = server.http.post("/api/pipelines/shop/blocks/report/fix").json()
    assert (proposal["name"], proposal["source"], proposal["code"]) == (
        "report", "model", corrected)
    assert "missing_column" in fake.sent_text(0)  # the block's error went with it
    assert report.read_text() == before  # proposed, not applied
    explained = server.http.post("/api/pipelines/shop/blocks/report/explain").json()
    assert explained == {"text": "It sums what customers spent."}


def test_a_refusal_names_the_provider_and_its_message(model: tuple[Server, FakeLLM]) -> None:
    server, fake = model
    fake.script(Reply(status=401, error="invalid api key"))
    answer = server.http.post("/api/pipelines/shop/generate",
                              json={"description": "anything", "name": "x"})
    assert answer.status_code == 400
    detail = answer.json()["detail"]
    assert "HTTP 401" in detail and "invalid api key" in detail and "fake-coder" in detail
    assert "sk-test-key" not in answer.text
