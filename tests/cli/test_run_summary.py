"""The run summary of `cairn run`: what each block's output takes."""

from __future__ import annotations

import re

from support import CLI, ProjectFolder


def test_sql_tables_show_their_rows_not_zero_bytes(project: ProjectFolder,
                                                   cli: type[CLI]) -> None:
    project.pipeline("p", {
        "numbers.py": "import pandas as pd\nnumbers = pd.DataFrame({'n': range(1234)})\n",
        "evens.sql": "SELECT n FROM numbers WHERE n % 2 = 0\n",
    })
    output = cli.run("run", "p", cwd=project.root, check=True).stdout
    evens = next(line for line in output.splitlines() if line.startswith("│ evens"))
    assert "617 rows in warehouse" in evens and "0 B" not in evens, output
    numbers = next(line for line in output.splitlines() if line.startswith("│ numbers"))
    assert re.search(r"\d+(\.\d)? (B|KiB)", numbers), output
