# Reads the SQL block's table as a pandas DataFrame and writes a CSV report.
from pathlib import Path

import pandas as pd

from cairn import block


@block
def report(revenue_by_region: pd.DataFrame, report_path: str, context) -> dict:
    path = Path(report_path)
    path.parent.mkdir(parents=True, exist_ok=True)
    revenue_by_region.to_csv(path, index=False)
    top = revenue_by_region.iloc[0]
    context.logger.info("wrote %s; top region %s with %.2f", path, top["region"], top["revenue"])
    return {"file": str(path), "regions": len(revenue_by_region),
            "total_revenue": float(revenue_by_region["revenue"].sum())}


def test_every_region_reported(output):
    assert output["regions"] == 4
