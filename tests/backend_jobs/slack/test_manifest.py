"""k8s/base runs the Slack bot as its own process, once, and the web runs none of its own (pure: the
manifests as data; tests/kube applies them to a real API server and checks Pod Security and policies)."""

from __future__ import annotations

from typing import Any

import yaml

from backend_jobs.slack.http_server import EVENTS_PATH, HEALTH_PATH
from openinspect_core.settings import SETTINGS
from tests.conftest import REPO_ROOT

BASE = REPO_ROOT / "k8s" / "base"


def deployment(file: str, name: str) -> dict[str, Any]:
    (doc,) = [d for d in yaml.safe_load_all((BASE / file).read_text())
              if d and d["kind"] == "Deployment" and d["metadata"]["name"] == name]
    return doc


def env_of(container: dict[str, Any]) -> dict[str, Any]:
    return {e["name"]: e.get("value", e.get("valueFrom")) for e in container.get("env", [])}


def test_the_slack_deployment_runs_one_bot_and_the_web_none() -> None:
    slack = deployment("slack.yaml", "openinspect-slack")
    assert slack["spec"]["replicas"] in (0, 1) and slack["spec"]["strategy"] == {"type": "Recreate"}
    (container,) = slack["spec"]["template"]["spec"]["containers"]
    assert container["args"] == ["python", "-m", "backend_jobs.slack"]
    env = env_of(container)
    ports = {p["name"]: p["containerPort"] for p in container["ports"]}
    assert int(env["OPENINSPECT_SLACK_PORT"]) == ports["http"]
    assert container["readinessProbe"]["httpGet"] == {"path": HEALTH_PATH, "port": "http"}
    # Slack's secrets come from the Secret, never from the ConfigMap or a literal.
    for name in ("OPENINSPECT_SLACK_BOT_TOKEN", "OPENINSPECT_SLACK_SIGNING_SECRET", "OPENINSPECT_SLACK_APP_TOKEN"):
        assert env[name]["secretKeyRef"]["name"] == "openinspect-secrets", name
    assert set(env) <= {s.env for s in SETTINGS}
    (web,) = deployment("web.yaml", "openinspect-web")["spec"]["template"]["spec"]["containers"]
    assert env_of(web)["OPENINSPECT_SLACK_IN_PROCESS"] == "false"
    assert EVENTS_PATH == "/slack/events"  # the path docs/slack.md and the ingress route name
