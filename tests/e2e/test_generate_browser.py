"""The notebook's Generate dialog and a block's Explain and Fix in headless Chromium: with no
model, a block from a template is reviewed, saved, shown and run like any other; with a
scripted OpenAI-compatible model on 127.0.0.1, a failed block's fix is reviewed and applied.

The dialog with its proposal is saved as test-artifacts/generate.png.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from ai.fake_llm import FakeServer
from playwright.sync_api import Page, expect
from support import ARTIFACTS, CLI, ProjectFolder, Server

CUSTOMERS = """
    import pandas as pd
    customers = pd.DataFrame({"email": ["a@x.org", "a@x.org", "b@x.org"],
                              "updated_at": pd.to_datetime(["2024-01-01", "2024-02-01",
                                                            "2024-01-15"]),
                              "spent": [1.0, 2.0, 3.0]})
"""


@pytest.fixture
def shop(project: ProjectFolder, cli: type[CLI]) -> Iterator[Server]:
    """A pipeline that ran once, so the columns of its output are known."""
    project.pipeline("shop", {"customers.py": CUSTOMERS})
    cli.run("run", "shop", cwd=project.root, check=True)
    server = Server(project.root)
    yield server
    server.stop()


def test_generate_review_save_and_run(shop: Server, page: Page) -> None:
    p = page
    get = p.get_by_test_id
    p.goto(f"{shop.base}/#/p/shop")
    expect(get("block-card-customers")).to_be_visible(timeout=30_000)
    get("run-customers").click()
    expect(get("status-customers")).to_have_text("success", timeout=60_000)
    expect(get("fix-customers")).to_be_disabled()  # it did not fail

    get("generate-block").click()
    get("generate-description").fill("deduplicate customers by email keeping the latest")
    get("generate-name").fill("unique_customers")
    get("generate-show-context").check()
    expect(get("generate-context")).to_contain_text("`customers`: email str, updated_at",
                                                    timeout=10_000)
    get("generate-submit").click()
    expect(get("proposal-origin")).to_contain_text("from a template: deduplicate",
                                                    timeout=30_000)
    expect(get("proposal-code")).to_contain_text("customers")
    code = get("proposal-code").inner_text()
    folder = shop.root / "pipelines" / "shop"
    assert not list(folder.glob("unique_customers.*"))  # shown for review, not saved
    ARTIFACTS.mkdir(exist_ok=True)
    p.screenshot(path=str(ARTIFACTS / "generate.png"))

    get("proposal-save").click()
    expect(get("generate-panel")).to_have_count(0, timeout=10_000)
    expect(get("block-card-unique_customers")).to_be_visible(timeout=10_000)
    expect(get("dirty-unique_customers")).to_have_count(0, timeout=10_000)
    assert (folder / "unique_customers.py").read_text().strip() == code.strip()
    expect(get("graph-edge-customers-unique_customers")).to_be_attached(timeout=10_000)

    get("run-unique_customers").click()
    expect(get("status-unique_customers")).to_have_text("success", timeout=60_000)
    expect(get("output-rows-unique_customers")).to_contain_text("2 rows")  # one per email

    get("explain-customers").click()
    expect(get("explanation-customers")).to_contain_text("No model is configured",
                                                         timeout=10_000)
    expect(get("explanation-customers")).to_contain_text("updated_at")


BROKEN = "total = customers['amount'].sum()\n"
FIXED = "total = customers['spent'].sum()\n"


def test_fix_a_failed_block_with_a_model(project: ProjectFolder, page: Page) -> None:
    project.pipeline("shop", {"customers.py": CUSTOMERS, "total.py": BROKEN})
    with FakeServer() as fake:
        (project.root / "cairn.yaml").write_text(
            f"name: test\nai:\n  provider:\n    kind: openai\n    url: {fake.url}\n"
            "    model: fake-coder\n")
        fake.script(f"```python\n{FIXED}```")
        server = Server(project.root)
        try:
            get = page.get_by_test_id
            page.goto(f"{server.base}/#/p/shop")
            expect(get("fix-total")).to_be_disabled(timeout=30_000)
            get("run-total").click()
            expect(get("status-total")).to_have_text("failed", timeout=60_000)
            get("fix-total").click()
            expect(get("fix-code-total")).to_have_text(FIXED, timeout=30_000)
            assert (project.root / "pipelines/shop/total.py").read_text() == BROKEN
            get("fix-apply-total").click()
            expect(get("fix-code-total")).to_have_count(0, timeout=10_000)
            expect(get("dirty-total")).to_have_count(0, timeout=10_000)
            assert (project.root / "pipelines/shop/total.py").read_text() == FIXED
            get("run-total").click()
            expect(get("status-total")).to_have_text("success", timeout=60_000)
            assert len(fake.requests) == 1
        finally:
            server.stop()
