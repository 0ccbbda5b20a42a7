"""Nothing is read or written outside the project through a live `cairn serve`: pipelines and
block files linking elsewhere are refused (unless cairn.yaml allows the folder), secrets
are never served by the file API, and a pipeline name is never a path."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from support import ProjectFolder, Server


@pytest.fixture
def outside(tmp_path: Path) -> Path:
    folder = tmp_path / "elsewhere"
    folder.mkdir()
    (folder / "stolen.py").write_text("stolen = 'private'\n")
    return folder


@pytest.fixture
def server(project: ProjectFolder, outside: Path) -> Iterator[Server]:
    project.pipeline("p", {"total.py": "total = 1\n"})
    (project.root / "pipelines/ext").symlink_to(outside, target_is_directory=True)
    (project.root / "pipelines/p/linked.py").symlink_to(outside / "stolen.py")
    (project.root / "secrets.yaml").write_text("db_password: hunter2\n")
    (project.root / "io_config.yaml").write_text(
        "default:\n  db:\n    type: postgres\n    password: hunter2\n")
    (project.root / ".env").write_text("TOKEN=hunter2\n")
    (project.root / "pipelines/p/notes.txt").symlink_to(project.root / "secrets.yaml")
    running = Server(project.root)
    yield running
    running.stop()


def test_a_pipeline_linking_outside_is_neither_listed_nor_served(server: Server) -> None:
    listed = server.http.get("/api/project").json()["pipelines"]
    assert [p["name"] for p in listed] == ["p"]
    refused = server.http.get("/api/pipelines/ext")
    assert refused.status_code == 403
    assert refused.json()["problems"][0]["kind"] == "outside-project"
    assert "allow_links_to" in refused.json()["problems"][0]["hint"]
    assert "private" not in refused.text
    assert server.http.get("/api/files", params={"path": "pipelines/ext/stolen.py"}
                           ).status_code == 403


def test_nothing_is_written_through_a_link_outside(server: Server, outside: Path) -> None:
    created = server.http.post("/api/pipelines/ext/blocks", json={"name": "dropped"})
    assert created.status_code == 403
    saved = server.http.put("/api/pipelines/p/blocks/linked", json={"source": "x = 1\n"})
    assert saved.status_code == 403
    assert server.http.delete("/api/pipelines/p/blocks/linked").status_code == 403
    assert sorted(p.name for p in outside.iterdir()) == ["stolen.py"]
    assert (outside / "stolen.py").read_text() == "stolen = 'private'\n"


def test_a_block_file_linking_outside_is_not_read(server: Server) -> None:
    pipeline = server.http.get("/api/pipelines/p").json()
    assert [b["name"] for b in pipeline["blocks"]] == ["total"]
    assert "private" not in str(pipeline)
    [problem] = pipeline["graph"]["errors"]
    assert problem["kind"] == "outside-project" and "linked.py" in problem["message"]


def test_the_file_api_never_serves_secrets(server: Server) -> None:
    for path in ["secrets.yaml", "io_config.yaml", ".env", ".cairn/cairn.db", "./secrets.yaml",
                 "pipelines/../secrets.yaml", "pipelines/p/notes.txt", "pipelines/p/\0x"]:
        response = server.http.get("/api/files", params={"path": path})
        # 422: a NUL byte is refused by the parameter's bounds, before the route
        assert response.status_code in (403, 422), (path, response.text)
        assert "hunter2" not in response.text
    assert server.http.get("/api/files", params={"path": "pipelines/p/total.py"}
                           ).json()["text"] == "total = 1\n"


def test_a_pipeline_name_is_never_a_path(server: Server, project: ProjectFolder) -> None:
    for name in ["../x", "a/b", "/etc", "x" * 300, "é" * 150, "a\x01b", ".hidden", "..",
                 "a\\b"]:
        created = server.http.post("/api/pipelines", json={"name": name})
        # 422: past the outer bounds of any name (length, control characters)
        assert created.status_code in (400, 422), (name, created.text)
        if created.status_code == 400:
            assert created.json()["problems"][0]["kind"] == "bad-name"
    assert sorted(p.name for p in (project.root / "pipelines").iterdir()) == ["ext", "p"]
    assert server.http.post("/api/pipelines", json={"name": "ventes_été"}).status_code == 201


def test_odd_pipeline_names_in_urls_are_client_errors(server: Server) -> None:
    for name in ["x" * 300, "é" * 150, "a%00b", "a%01b", "..%2F..%2Fetc"]:
        for url in (f"/api/pipelines/{name}", f"/api/pipelines/{name}/blocks/b/readers"):
            response = server.http.get(url)
            assert 400 <= response.status_code < 500, (url, response.status_code, response.text)


def test_allow_links_to_lets_a_linked_pipeline_in(project: ProjectFolder,
                                                  outside: Path) -> None:
    (project.root / "cairn.yaml").write_text(f"allow_links_to: [{outside}]\n")
    (project.root / "pipelines").mkdir()
    (project.root / "pipelines/ext").symlink_to(outside, target_is_directory=True)
    server = Server(project.root)
    try:
        pipeline = server.http.get("/api/pipelines/ext").json()
        assert [b["name"] for b in pipeline["blocks"]] == ["stolen"]
        assert server.http.post("/api/pipelines/ext/blocks",
                                json={"name": "added"}).status_code == 201
        assert (outside / "added.py").is_file()
    finally:
        server.stop()
