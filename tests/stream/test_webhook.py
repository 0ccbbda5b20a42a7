"""The webhook: events POSTed to the server land durably in the stream's inbox, and the
webhook source reads them in batches, deleting files once committed."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import httpx
import pytest
from harness import (
    StreamProcess,
    assert_poison_set_aside,
    count,
    event,
    ids,
    kill_after_first_rows,
    stream_project,
)
from support import ProjectFolder, cairn, free_port, wait_until

from cairn.errors import CairnError
from cairn.project.streaming import SourceSettings
from cairn.stream import inbox
from cairn.stream.ports import StreamScope, make_source
from cairn.stream.webhook import WebhookSource

TOKEN = "hook-secret"
SOURCE = f"kind: webhook\noptions: {{token: {TOKEN}}}"
# stream_project names a broker connection; a webhook needs none, so it is a files one.
UNUSED = "kind: files\nurl: ."


class _Server:
    """`cairn serve` without its scheduler, so that no managed stream competes with the
    `cairn stream` processes the tests start."""

    def __init__(self, root: Path, env: dict[str, str]) -> None:
        self.base = f"http://127.0.0.1:{free_port()}"
        self.log = open(root.parent / "server.log", "wb")  # noqa: SIM115 - closed in stop()
        self.process = subprocess.Popen(
            [sys.executable, "-m", "cairn", "serve", "--no-scheduler", "--port",
             self.base.rsplit(":", 1)[1], "--project", str(root)],
            env={**os.environ, **env}, stdout=self.log, stderr=subprocess.STDOUT)

        def up() -> bool:
            assert self.process.poll() is None, (root.parent / "server.log").read_text()
            try:
                return httpx.get(self.base + "/openapi.json", timeout=1).status_code == 200
            except httpx.TransportError:
                return False

        wait_until(up, what="the server")

    def post(self, pipeline: str, body: Any, token: str | None = TOKEN,
             **arguments: Any) -> httpx.Response:
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        content = body if isinstance(body, bytes) else json.dumps(body).encode()
        return httpx.post(f"{self.base}/api/pipelines/{pipeline}/events", content=content,
                          headers=headers, timeout=30, **arguments)

    def stop(self) -> None:
        self.process.terminate()
        self.process.wait(timeout=10)
        self.log.close()


def _inbox(project: ProjectFolder, pipeline: str = "events") -> Path:
    return inbox.folder(project.root / ".cairn" / "streams" / pipeline)


def _source(state: Path) -> WebhookSource:
    settings = SourceSettings(kind="webhook", options={"token": TOKEN})
    source = make_source(settings, None, StreamScope("events", state.parent, state))
    assert isinstance(source, WebhookSource)
    source.open()
    return source


def _ids(messages: list[Any]) -> list[int]:
    return [json.loads(m.value)["id"] for m in messages]


def _post(folder: Path, numbers: range, **extra: Any) -> None:
    inbox.deliver(folder, json.dumps([json.loads(event(n, **extra)) for n in numbers]).encode())


@pytest.mark.parametrize(("body", "messages", "array"), [
    (b'[{"a": 1}, 2, "x"]', [b'{"a":1}', b"2", b'"x"'], True),
    (b'  [ ]', [], True),
    (b'{"a": 1}', [b'{"a": 1}'], False),
    (b"plain text\nwith lines", [b"plain text\nwith lines"], False),
    (b"[not json", [b"[not json"], False),
    (b"", [], False),
])
def test_a_json_array_is_many_messages_and_any_other_body_one(
        body: bytes, messages: list[bytes], array: bool) -> None:
    assert inbox.split(body) == (messages, array)


@pytest.mark.parametrize("options", ["{token: ''}", "{token_env: EMPTY_HOOK_TOKEN}",
                                     "{token_env: UNSET_HOOK_TOKEN}"])
def test_an_empty_or_missing_webhook_token_refuses_every_call(project: ProjectFolder,
                                                              options: str) -> None:
    stream_project(project, "unused", UNUSED, f"kind: webhook\noptions: {options}")
    server = _Server(project.root, {"EMPTY_HOOK_TOKEN": "", "CAIRN_TOKEN": "the-server's"})
    try:
        answers = [server.post("events", [1], token=None),
                   server.post("events", [1], token=None, params={"token": ""}),
                   server.post("events", [1], token="anything")]
    finally:
        server.stop()
    assert [a.status_code for a in answers] == [403, 403, 403]
    assert "accepts no calls" in answers[0].json()["detail"]
    assert not _inbox(project).exists()


def test_unknown_webhooks_say_nothing_of_the_project(project: ProjectFolder) -> None:
    stream_project(project, "unused", UNUSED, SOURCE)
    project.pipeline("batch", {"a.py": "a = 1\n"})
    (project.root / "pipelines" / "broken").mkdir()
    (project.root / "pipelines" / "broken" / "pipeline.yaml").write_text("source: [\n")
    server = _Server(project.root, {})
    try:
        answers = [server.post(name, [1], token=None) for name in ("nowhere", "batch", "broken")]
    finally:
        server.stop()
    for answer in answers:
        assert answer.status_code == 404
        assert str(project.root) not in answer.text
        assert "batch" not in answer.text and "events" not in answer.text


def test_the_endpoint_checks_pipeline_token_and_size_and_keeps_what_it_accepts(
        project: ProjectFolder) -> None:
    stream_project(project, "unused", UNUSED,
                   "kind: webhook\noptions: {token_env: HOOK_TOKEN, max_body_bytes: 200}")
    project.pipeline("batch", {"a.py": "a = 1\n"})
    server = _Server(project.root, {"HOOK_TOKEN": TOKEN, "CAIRN_TOKEN": "the-server's"})
    try:
        assert server.post("events", [1], token=None).status_code == 403
        assert server.post("events", [1], token="wrong").status_code == 403
        assert server.post("events", [1], token="the-server's").status_code == 403
        assert server.post("batch", [1]).status_code == 404
        assert server.post("nowhere", [1]).status_code == 404
        large = server.post("events", [{"id": n} for n in range(100)])
        assert large.status_code == 413 and "200 bytes" in large.json()["detail"]
        assert not _inbox(project).exists()  # nothing refused was kept

        answers = [server.post("events", [{"id": 1}, {"id": 2}, {"id": 3}]),
                   server.post("events", b"line one\nline two"),
                   server.post("events", [], token=None, params={"token": TOKEN}),
                   server.post("events", {"id": 4})]
    finally:
        server.stop()
    assert [(a.status_code, a.json()) for a in answers] == [(202, {"accepted": n})
                                                           for n in (3, 1, 0, 1)]
    files = sorted(os.listdir(_inbox(project)))  # no temporary files: each one complete
    assert [entry.name for entry in inbox.entries(_inbox(project))] == files
    assert [(entry.count, entry.raw) for entry in inbox.entries(_inbox(project))] == [
        (3, False), (1, True), (1, True)]  # in order of arrival
    contents = [(_inbox(project) / name).read_bytes() for name in files]
    assert contents == [b'{"id":1}\n{"id":2}\n{"id":3}\n', b"line one\nline two", b'{"id": 4}']


def test_batches_end_inside_files_commit_deletes_them_and_restore_goes_on(
        tmp_path: Path) -> None:
    state = tmp_path / "state"
    folder = inbox.folder(state)
    _post(folder, range(1, 4))
    _post(folder, range(4, 8))
    inbox.deliver(folder, b"raw \x00 bytes")
    (folder / ".partial.tmp").write_bytes(b"a writer's temporary file")
    first = _source(state)
    assert first.lag() == 8
    batch = first.fetch(5, 0.05)
    assert _ids(batch) == [1, 2, 3, 4, 5]
    first.commit(batch)
    names = [entry.name for entry in inbox.entries(folder)]
    assert len(names) == 2  # the first file, consumed in full, is gone
    assert first.position() == {"file": names[0], "index": 2}
    assert first.lag() == 3
    first.fetch(5, 0.05)  # then the process dies without committing
    first.close()

    second = _source(state)
    second.restore(json.loads(json.dumps(first.position())))
    batch = second.fetch(10, 0.05)
    assert [m.value for m in batch] == [event(6).replace(b" ", b""),
                                        event(7).replace(b" ", b""), b"raw \x00 bytes"]
    assert batch[-1].timestamp == inbox.entries(folder)[-1].arrived
    second.commit(batch)
    assert inbox.entries(folder) == [] and second.lag() == 0
    assert second.position() == {"file": names[1], "index": 1}


def test_a_crash_between_commit_and_checkpoint_only_replays(tmp_path: Path) -> None:
    state = tmp_path / "state"
    folder = inbox.folder(state)
    _post(folder, range(1, 4))
    _post(folder, range(4, 8))
    first = _source(state)
    first.commit(first.fetch(2, 0.05))
    checkpoint = first.position()  # recorded: 2 of the first file
    first.commit(first.fetch(3, 0.05))  # the first file deleted, then a crash: not recorded

    second = _source(state)
    second.restore(checkpoint)  # names a file that is gone: the rest is all unconsumed
    assert _ids(second.fetch(10, 0.05)) == [4, 5, 6, 7]


def test_sample_is_the_newest_messages_and_consumes_nothing(tmp_path: Path) -> None:
    state = tmp_path / "state"
    _post(inbox.folder(state), range(1, 4))
    _post(inbox.folder(state), range(4, 6))
    source = _source(state)
    assert _ids(source.sample(3)) == [3, 4, 5]
    assert _ids(source.fetch(10, 0.05)) == [1, 2, 3, 4, 5]


def test_a_webhook_source_needs_a_token() -> None:
    settings = SourceSettings(kind="webhook", options={"max_body_bytes": 10})
    with pytest.raises(CairnError, match="either `token` or `token_env`"):
        make_source(settings, None, StreamScope("events", Path("."), Path("state")))


def test_events_accepted_while_the_stream_is_stopped_flow_once_it_starts(
        project: ProjectFolder, pg_schema: str) -> None:
    stream_project(project, pg_schema, UNUSED, SOURCE)
    server = _Server(project.root, {})
    try:
        for first in range(1, 31, 10):
            assert server.post("events", [json.loads(event(n)) for n in
                                          range(first, first + 10)]).status_code == 202
        assert server.post("events", event(31)).json() == {"accepted": 1}
        stream = StreamProcess(project.root)
        wait_until(lambda: count(pg_schema) == 31, what="31 rows")
        server.post("events", [json.loads(event(n)) for n in range(32, 41)])  # while it runs
        wait_until(lambda: count(pg_schema) == 40, what="40 rows")
        assert stream.stop() == 0, stream.output()
    finally:
        server.stop()
    assert ids(pg_schema) == list(range(1, 41))
    assert inbox.entries(_inbox(project)) == []
    shown = cairn("checkpoints", "events", cwd=project.root)
    assert "file" in shown.stdout and "index" in shown.stdout, shown.stdout + shown.stderr


def test_sigkill_mid_flow_loses_nothing_and_upsert_leaves_no_duplicates(
        project: ProjectFolder, pg_schema: str) -> None:
    stream_project(project, pg_schema, UNUSED, SOURCE, "upsert")
    for first in range(1, 3001, 75):  # requests that batches of 50 end inside
        _post(_inbox(project), range(first, first + 75))
    kill_after_first_rows(project.root, pg_schema, 3000)

    again = StreamProcess(project.root, "events", "--stop-when-idle", "2")
    assert again.wait() == 0, again.output()
    assert ids(pg_schema) == list(range(1, 3001))
    assert inbox.entries(_inbox(project)) == []


def test_a_poison_event_goes_to_the_dead_letters_and_the_stream_goes_on(
        project: ProjectFolder, pg_schema: str) -> None:
    stream_project(project, pg_schema, UNUSED, SOURCE)
    _post(_inbox(project), range(1, 21))
    _post(_inbox(project), range(21, 22), poison=True)
    _post(_inbox(project), range(22, 41))
    stream = StreamProcess(project.root, "events", "--stop-when-idle", "1.5")
    assert stream.wait() == 0, stream.output()

    assert_poison_set_aside(pg_schema)
