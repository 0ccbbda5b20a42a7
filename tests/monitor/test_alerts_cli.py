"""`cairn alerts test|list|history` as a user runs them, and clear errors for bad settings."""

from __future__ import annotations

import textwrap

import pytest
from alert_receivers import HTTPReceiver
from support import CLI, ProjectFolder

SLACK_TOKEN = "T000/B000/xoxo-secret-path"


@pytest.fixture
def configured(project: ProjectFolder, http: HTTPReceiver) -> ProjectFolder:
    (project.root / "cairn.yaml").write_text(textwrap.dedent(f"""
        name: test
        alerts:
          max_attempts: 1
          channels:
            slack:
              kind: slack
              url: "{{{{ env_var('TEST_SLACK_URL', '{http.url}/{SLACK_TOKEN}') }}}}"
            broken: {{kind: discord, url: "{http.url}/broken"}}
            unset: {{kind: webhook, url: "{{{{ env_var('CAIRN_TEST_NOT_SET') }}}}"}}
          routes:
            - pipelines: ["sales_*"]
              channels: [slack]
    """))
    http.status["/broken"] = 404
    return project


def test_alerts_test_sends_a_test_message(configured: ProjectFolder, http: HTTPReceiver,
                                          cli: type[CLI]) -> None:
    result = cli.run("alerts", "test", "slack", cwd=configured.root)
    assert result.returncode == 0, result.stderr
    assert "sent a test message to slack" in result.stdout
    [request] = http.at(f"/{SLACK_TOKEN}")
    assert request.json()["text"] == "Test alert from Cairn: this channel works"

    failed = cli.run("alerts", "test", "broken", cwd=configured.root)
    assert failed.returncode == 1
    assert "failed to send to broken: HTTP 404" in failed.stdout
    assert "/broken" not in failed.stdout  # the URL is the channel's credential

    history = cli.run("alerts", "history", cwd=configured.root, check=True).stdout
    assert "test" in history and "slack" in history and "sent" in history
    assert "gave_up" in history and "HTTP 404" in history  # max_attempts: 1
    assert SLACK_TOKEN not in history


def test_unknown_channel_names_the_closest(configured: ProjectFolder, cli: type[CLI]) -> None:
    result = cli.run("alerts", "test", "slak", cwd=configured.root)
    assert result.returncode == 2
    assert "no alert channel named 'slak'" in result.stderr
    assert "did you mean 'slack'?" in result.stderr


def test_list_shows_hosts_and_routes_never_credentials(configured: ProjectFolder,
                                                       http: HTTPReceiver,
                                                       cli: type[CLI]) -> None:
    listing = cli.run("alerts", "list", cwd=configured.root, check=True).stdout
    host = http.url.removeprefix("http://")
    assert f"slack {host}" in listing and "sales_*: failure,sla_miss,recovery" in listing
    assert "environment variable 'CAIRN_TEST_NOT_SET' is not set" in listing
    assert SLACK_TOKEN not in listing and "xoxo" not in listing


@pytest.mark.parametrize(("alerts", "expected", "line"), [
    ("channels:\n  x: {kind: sms, url: 'http://a'}", "alerts.channels.x: Input tag 'sms'", 4),
    ("channels:\n  x: {kind: slack}", "alerts.channels.x.url: Field required", 4),
    ("channels:\n  x: {kind: slack, url: 'ftp://a'}", "'ftp://a' is not an http:// or "
     "https:// URL", 4),
    ("channels:\n  x: {kind: email, host: h, from: a@b.c, to: []}",
     "alerts.channels.x.to: List should have at least 1 item", 4),
    ("retry_delay: soon", "alerts.retry_delay", 3),
    ("channels:\n  slack: {kind: slack, url: 'http://a'}\nroutes:\n  - channels: [slak]",
     "routes.0.channels: unknown channel 'slak' (did you mean 'slack'?)", 2),
    ("routes:\n  - {channels: [a], events: [failed]}", "alerts.routes.0.events.0", 4),
])
def test_bad_alert_settings_name_the_file_line_and_field(
        project: ProjectFolder, cli: type[CLI], alerts: str, expected: str, line: int) -> None:
    (project.root / "cairn.yaml").write_text("name: test\nalerts:\n"
                                             + textwrap.indent(alerts, "  ") + "\n")
    result = cli.run("alerts", "list", cwd=project.root)
    assert result.returncode == 2
    assert f"cairn.yaml:{line}: " in result.stderr and expected in result.stderr, result.stderr


def test_bad_sla_names_the_pipeline_file(project: ProjectFolder, cli: type[CLI]) -> None:
    project.pipeline("p", {"a.py": "a = 1\n"},
                     "triggers:\n  - name: t\n    interval: 1h\n    sla: {deadline: soon}\n")
    result = cli.run("run", "p", cwd=project.root)
    assert result.returncode == 2
    assert "pipeline.yaml:4: triggers.0.sla.deadline" in result.stderr
    assert "'soon' is not an interval" in result.stderr
