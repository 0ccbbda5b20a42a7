"""What the AI tests share: a provider in cairn.yaml, and a project with a secret and
row values that must never be sent."""

from __future__ import annotations

API_KEY = "sk-test-key-93f1c0"
PASSWORD = "hunter2-pw-7731"
ROW_VALUE = "zed@row-value.example"

ORDERS = f"""
import pandas as pd

orders = pd.DataFrame({{
    "order_id": [1, 2, 3],
    "customer_email": ["{ROW_VALUE}", "amy@example.org", "{ROW_VALUE}"],
    "amount": [9.5, 3.25, 4.0],
}})
"""

IO_CONFIG = f"""
default:
  crm:
    kind: postgres
    url: postgresql://app:{PASSWORD}@db.internal:5432/crm
"""


def provider_yaml(url: str, kind: str = "openai", key: str = "api_key_env: CAIRN_TEST_LLM_KEY",
                  max_repairs: int = 2) -> str:
    return (f"name: test\nai:\n  provider:\n    kind: {kind}\n    url: {url}\n"
            f"    model: fake-model\n    {key}\n    timeout: 10\n    retries: 2\n"
            f"    max_repairs: {max_repairs}\n")
