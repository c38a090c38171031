"""The sandbox launch contract: what the control plane hands a sandbox to start it.

One model, :class:`LaunchSpec`, written by the control plane (:meth:`LaunchSpec.to_env`,
the environment of the sandbox's process, Pod Secret or manual env file) and read by the
sandbox runtime (:meth:`LaunchSpec.from_env`). Each setting's variable name, default and
meaning are defined here once; the control plane's own settings take their defaults from
the constants below.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Literal

from pydantic import Field, ValidationError, field_validator

from openinspect_protocol.base import Message, ProtocolError

ENV_PREFIX = "OPENINSPECT_"
WORKSPACE_ENV = "OPENINSPECT_WORKSPACE"
IMAGE_WORKSPACE = "/workspace"  # the sandbox image's layout; the local backends give each session its own
# Where the bridge token waits for the runtime, which reads it and removes it before it starts anything:
# the token is never in an environment a process of the sandbox could read (/proc/<pid>/environ).
IMAGE_TOKEN_FILE = "/run/openinspect/sandbox-token"
# The session's repository secrets ({"NAME": "value"} JSON), beside the token and taken the same way: the
# runtime hands them to setup.sh, start.sh and the agent only, never to its own environment.
IMAGE_SECRETS_FILE = "/run/openinspect/secrets.json"
MAX_SCRIPT_OUTPUT_BYTES = 1024 * 1024  # what a script may print before the rest is dropped (with a note)
MAX_OUTBOX_EVENTS = 20_000  # unacknowledged events a sandbox keeps before it stops accepting new ones

# Why these: the limits a repository's scripts get (setup may install a lot; start only
# starts servers), and a heartbeat every 30 s with "stale" after three missed ones.
SETUP_TIMEOUT_SECONDS = 300.0
START_TIMEOUT_SECONDS = 120.0
# verify.sh runs the repository's checks (tests, a browser) after each turn that made commits.
VERIFY_TIMEOUT_SECONDS = 300.0
# A turn's changes travel in one event (MAX_EVENT_BYTES, 256 KiB): one file's diff, and all of them, are
# capped below that (a cut is said in the event, and shown); the sandbox keeps the whole event within it.
CHANGES_MAX_FILE_BYTES = 64 * 1024
CHANGES_MAX_TOTAL_BYTES = 192 * 1024
CHANGES_MAX_TOTAL_BYTES_LIMIT = 224 * 1024  # a larger setting is taken as this (one event's room)
HEARTBEAT_INTERVAL_SECONDS = 30.0
HEARTBEAT_STALE_SECONDS = 90.0
BOT_NAME = "Open-Inspect"
BOT_EMAIL = "bot@openinspect.local"
DEFAULT_AGENT = "opencode"

ProviderKind = Literal["openai_compatible", "anthropic"]


def _positive(description: str, default: float) -> Any:
    return Field(default=default, gt=0, description=description)


class LaunchSpec(Message):
    """Everything one sandbox is started with. Secrets are kept out of ``repr``."""

    session_id: str = Field(min_length=1, description="The session this sandbox serves.")
    sandbox_id: str = Field(min_length=1, description="This sandbox's id (for logs).")
    sandbox_token_file: str = Field(default=IMAGE_TOKEN_FILE, min_length=1,
                                    description="File holding the bridge's bearer token; read, then removed.")
    secrets_file: str = Field(default=IMAGE_SECRETS_FILE, min_length=1,
                              description="File holding the session's secrets as a JSON object; read, then "
                                          "removed (missing: none).")
    control_plane_url: str = Field(description="Bridge server, ws:// or wss://, e.g. ws://127.0.0.1:8765.")
    repo_url: str = Field(min_length=1, description="Repository to clone: local path, file://, http(s)://.")
    branch: str = Field(default="", description="Branch to check out; empty: the remote's default.")
    work_branch: str = Field(default="", description="The session's own branch, pushed after turns with "
                                                     "new commits; empty: nothing is pushed.")
    git_credentials: bool = Field(default=False, description="Ask the control plane's credential broker for "
                                                             "git credentials (GitHub repositories).")
    workspace: str = Field(default=IMAGE_WORKSPACE, min_length=1,
                           description="Holds repo/ (the clone) and agent/ (agent state).")
    agent: str = Field(default=DEFAULT_AGENT, description="Agent harness: a registered name or module:Class.")
    opencode_bin: str = Field(default="opencode", description="Path of the agent's executable.")
    model: str = Field(description="Model as provider/model.")
    provider_kind: ProviderKind = Field(default="openai_compatible", description="openai_compatible or anthropic.")
    provider_base_url: str = Field(default="", description="Base URL of the model API: the control plane's proxy.")
    provider_api_key: str = Field(default="", repr=False,
                                  description="The sandbox's own model-proxy credential (never the provider's key).")
    setup_timeout_seconds: float = _positive("Limit for .openinspect/setup.sh.", SETUP_TIMEOUT_SECONDS)
    start_timeout_seconds: float = _positive("Limit for .openinspect/start.sh.", START_TIMEOUT_SECONDS)
    verify_timeout_seconds: float = _positive("Limit for .openinspect/verify.sh (run after turns that made "
                                              "commits); a run still going is killed.", VERIFY_TIMEOUT_SECONDS)
    changes_max_file_bytes: int = Field(default=CHANGES_MAX_FILE_BYTES, gt=0,
                                        description="A file's diff larger than this is folded in the Changes.")
    changes_max_total_bytes: int = Field(default=CHANGES_MAX_TOTAL_BYTES, gt=0,
                                         description="Diffs beyond this many bytes in all are folded in the Changes.")
    heartbeat_interval_seconds: float = _positive("How often the bridge sends a heartbeat.",
                                                  HEARTBEAT_INTERVAL_SECONDS)
    bot_name: str = Field(default=BOT_NAME, min_length=1, description="Committer name on the agent's commits.")
    bot_email: str = Field(default=BOT_EMAIL, min_length=1, description="Committer email on the agent's commits.")
    max_script_output_bytes: int = Field(default=MAX_SCRIPT_OUTPUT_BYTES, gt=0,
                                         description="Most output kept of one repository script.")
    max_outbox_events: int = Field(default=MAX_OUTBOX_EVENTS, gt=0,
                                   description="Most unacknowledged events the bridge keeps.")

    @field_validator("control_plane_url")
    @classmethod
    def _websocket_url(cls, value: str) -> str:
        if not value.startswith(("ws://", "wss://")):
            raise ValueError(f"must start with ws:// or wss://, got {value!r}")
        return value

    @field_validator("model")
    @classmethod
    def _provider_and_model(cls, value: str) -> str:
        if "/" not in value.strip("/"):
            raise ValueError(f"must look like provider/model, got {value!r}")
        return value

    def to_env(self) -> dict[str, str]:
        """The environment variables that carry this spec (empty optional values left out)."""
        env: dict[str, str] = {}
        for name, value in self.model_dump().items():
            if value in ("", None):
                continue
            env[env_name(name)] = str(value)
        return env

    @classmethod
    def from_env(cls, environ: Mapping[str, str]) -> LaunchSpec:
        """Read the spec from ``environ``; :class:`LaunchError` names every variable that is wrong."""
        values = {name: environ[env_name(name)] for name in cls.model_fields if environ.get(env_name(name))}
        try:
            return cls.model_validate(values)
        except ValidationError as error:
            missing = [env_name(str(e["loc"][0])) for e in error.errors() if e["type"] == "missing"]
            wrong = [f"{env_name(str(e['loc'][0]))}: {e['msg']}" for e in error.errors() if e["type"] != "missing"]
            parts = []
            if missing:
                parts.append(f"missing required environment variable(s): {', '.join(missing)}")
            parts.extend(wrong)
            raise LaunchError("; ".join(parts)) from None


class LaunchError(ProtocolError):
    """The environment does not hold a valid :class:`LaunchSpec`; the message names the variables."""


def env_name(field_name: str) -> str:
    return ENV_PREFIX + field_name.upper()


SECRET_ENV_NAMES: frozenset[str] = frozenset(
    env_name(name) for name, info in LaunchSpec.model_fields.items() if info.repr is False
)


def settings_table() -> list[tuple[str, str | None, str]]:
    """(variable, default or None when required, meaning) for every launch setting."""
    rows = []
    for name, info in LaunchSpec.model_fields.items():
        default = None if info.is_required() else ("" if info.default is None else str(info.default))
        rows.append((env_name(name), default, info.description or ""))
    return rows
