"""Time `cairn.service.plan` and `graph.layers()` inside one process; print JSON.

Usage: python bench/plan_timing.py PROJECT PIPELINE REPEAT
run.py starts this as a child so that the benchmark driver itself stays small (a child's
peak RSS as reported by wait4 includes the memory of the process that started it).
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

from measure import time_calls


def main(root: str, pipeline: str, repeat: int) -> dict[str, object]:
    from cairn import service
    from cairn.project.config import find_project

    project = find_project(Path(root))
    first_plan_s, plan_s = time_calls(lambda: service.plan(project, pipeline), repeat)
    _, graph = service.plan(project, pipeline)
    first_layers_s, layers_s = time_calls(graph.layers, repeat)
    return {
        "blocks": len(graph.order),
        "edges": len(graph.edges()),
        "layers": len(graph.layers()),
        "problems": [p.describe() for p in graph.problems[:3]],
        "first_plan_s": first_plan_s,
        "plan_s": plan_s,
        "first_layers_s": first_layers_s,
        "layers_s": layers_s,
    }


if __name__ == "__main__":
    print(json.dumps(main(sys.argv[1], sys.argv[2], int(sys.argv[3]))))
