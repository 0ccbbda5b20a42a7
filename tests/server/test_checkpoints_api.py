"""Checkpoints through the HTTP API of a live `cairn serve`: listed, reset, recorded."""

from __future__ import annotations

from support import CLI, ProjectFolder, Server


def test_list_and_reset_checkpoints(project: ProjectFolder, cli: type[CLI]) -> None:
    project.pipeline("p", {"counter.py": "seen = context.checkpoint('seen', 0)\n"
                                         "context.set_checkpoint('seen', seen + 1)\n"})
    for _ in range(2):
        cli.run("run", "p", "--quiet", cwd=project.root, check=True)
    live = Server(project.root, token="s3cret")
    try:
        assert live.http.get("/api/checkpoints", headers={"Authorization": ""}
                             ).status_code in (401, 403)
        [current] = live.http.get("/api/checkpoints", params={"pipeline": "p"}).json()
        assert (current["block"], current["name"], current["version"], current["value"],
                current["source"]) == ("counter", "seen", 2, 2, "run")

        reset = live.http.post("/api/pipelines/p/checkpoints/reset",
                               json={"to_value": 10, "note": "replay"})
        assert reset.json() == [{"block": "counter", "name": "seen", "version": 3}]
        back = live.http.post("/api/pipelines/p/checkpoints/reset",
                              json={"block": "counter", "to_version": 1})
        assert back.json()[0]["version"] == 4
        unknown = live.http.post("/api/pipelines/p/checkpoints/reset", json={"block": "countr"})
        assert unknown.status_code >= 400 and "counter" in unknown.text

        history = live.http.get("/api/checkpoints",
                                params={"pipeline": "p", "history": "true"}).json()
        assert [(h["version"], h["value"], h["source"], h["note"]) for h in history] == [
            (1, 1, "run", None), (2, 2, "run", None), (3, 10, "reset", "replay"),
            (4, 1, "reset", "reset through the API")]
    finally:
        live.stop()
    cli.run("run", "p", "--quiet", cwd=project.root, check=True)
    listed = cli.run("checkpoints", "p", cwd=project.root, check=True).stdout
    assert " 5 " in listed  # the run went on from the value reset to (1 -> 2)
