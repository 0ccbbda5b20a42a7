# Script style: top-level names are this block's outputs (`customers`).
from pathlib import Path

import pandas as pd

_data = Path(context.var("data_dir", "data"))
customers = pd.read_csv(_data / "customers.csv", parse_dates=["signup_date"])
print(f"loaded {len(customers)} customers")
