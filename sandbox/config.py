"""The sandbox runtime's configuration, read once from the environment.

The environment is the launch contract (:class:`~openinspect_protocol.LaunchSpec`,
written by the control plane); only the entrypoint calls
:meth:`SandboxConfig.from_env`, and every part then gets its own frozen
sub-config (the bridge its :class:`BridgeSettings`, the supervisor its
:class:`SupervisorSettings`, the harness an :class:`~sandbox.harness.base.AgentConfig`)
and never looks at the environment. Secrets (the bridge token, the model
credential) are kept out of ``repr`` and out of the environment handed to anything
the sandbox starts (:func:`child_environment`).

The bridge token is not in the environment at all: the launch contract names a
file (``OPENINSPECT_SANDBOX_TOKEN_FILE``) that :func:`take_token` reads and
removes while the config is read, before anything is started, so no process of
the sandbox can find it later (not in an environment, not in ``/proc``, not on
disk).

The session's repository secrets arrive the same way (``OPENINSPECT_SECRETS_FILE``,
a JSON object of names to values; :func:`take_secrets`) and go to setup.sh,
start.sh and the agent (:attr:`SandboxConfig.script_env`, ``AgentConfig.env``) —
not into the runtime's own environment, nor into the git commands it runs itself.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import quote

from openinspect_protocol.launch import (
    CHANGES_MAX_FILE_BYTES,
    CHANGES_MAX_TOTAL_BYTES,
    ENV_PREFIX,
    HEARTBEAT_INTERVAL_SECONDS,
    MAX_OUTBOX_EVENTS,
    MAX_SCRIPT_OUTPUT_BYTES,
    SECRET_ENV_NAMES,
    VERIFY_TIMEOUT_SECONDS,
    LaunchError,
    LaunchSpec,
    env_name,
)

from sandbox.harness.base import AgentConfig, ProviderConfig

ConfigError = LaunchError  # what the entrypoint reports (exit code 2) when the environment is incomplete
TOKEN_FILE_ENV = env_name("sandbox_token_file")
SECRETS_FILE_ENV = env_name("secrets_file")
_SECRET_NAME = re.compile(r"[A-Z_][A-Z0-9_]*")

# Never handed to a process the sandbox starts: the git identity variables, which
# would override the per-prompt attribution in the clone's config (they beat git config).
_GIT_IDENTITY_NAMES = frozenset(
    {"GIT_AUTHOR_NAME", "GIT_AUTHOR_EMAIL", "GIT_AUTHOR_DATE",
     "GIT_COMMITTER_NAME", "GIT_COMMITTER_EMAIL", "GIT_COMMITTER_DATE"}
)

# Why these: a quick first retry hides a blip; 15 s keeps a sandbox that lost the
# control plane from hammering it while still coming back within seconds.
RECONNECT_INITIAL_DELAY_SECONDS = 0.25
RECONNECT_MAX_DELAY_SECONDS = 15.0


@dataclass(frozen=True)
class Identity:
    name: str
    email: str


@dataclass(frozen=True)
class BridgeSettings:
    """What the bridge needs: where to connect, who it is, how often to beat."""

    control_plane_url: str
    session_id: str
    sandbox_id: str
    sandbox_token: str = field(repr=False)
    heartbeat_interval_seconds: float = HEARTBEAT_INTERVAL_SECONDS
    reconnect_initial_delay_seconds: float = RECONNECT_INITIAL_DELAY_SECONDS
    reconnect_max_delay_seconds: float = RECONNECT_MAX_DELAY_SECONDS

    @property
    def url(self) -> str:
        return f"{self.control_plane_url.rstrip('/')}/bridge/{quote(self.session_id, safe='')}"


@dataclass(frozen=True)
class SupervisorSettings:
    """What the supervisor decides with: the repo to sync, script limits, the bot, the session's branch."""

    repo_url: str
    branch: str | None
    setup_timeout_seconds: float
    start_timeout_seconds: float
    bot: Identity
    work_branch: str | None = None  # checked out after the clone, pushed on `push`; None: nothing pushed
    git_credentials: bool = False  # clone/fetch/push with credentials from the control plane's broker
    verify_timeout_seconds: float = VERIFY_TIMEOUT_SECONDS  # .openinspect/verify.sh, after turns with commits
    changes_max_file_bytes: int = CHANGES_MAX_FILE_BYTES  # one file's diff in a `changes` event
    changes_max_total_bytes: int = CHANGES_MAX_TOTAL_BYTES  # all of them


@dataclass(frozen=True)
class SandboxConfig:
    session_id: str
    sandbox_id: str
    workspace: Path
    agent_name: str
    bridge: BridgeSettings
    supervisor: SupervisorSettings
    agent: AgentConfig = field(repr=False)  # holds the provider's API key
    child_env: Mapping[str, str] = field(repr=False)  # environment for the runtime's own git commands
    max_script_output_bytes: int = MAX_SCRIPT_OUTPUT_BYTES  # for the ScriptRunner
    max_outbox_events: int = MAX_OUTBOX_EVENTS  # for the bridge's Outbox
    secrets: Mapping[str, str] = field(default_factory=dict, repr=False)  # the session's repository secrets

    @property
    def script_env(self) -> dict[str, str]:
        """The environment of setup.sh and start.sh: the child environment plus the secrets."""
        return {**self.child_env, **self.secrets}

    @property
    def repo_dir(self) -> Path:
        return self.workspace / "repo"

    @property
    def agent_state_dir(self) -> Path:
        return self.workspace / "agent"

    @classmethod
    def from_env(cls, environ: Mapping[str, str]) -> SandboxConfig:
        """Read the launch spec from ``environ`` and take the bridge token from its file (which is
        then gone); raise :class:`ConfigError` naming what is wrong."""
        spec = LaunchSpec.from_env(environ)
        token = take_token(Path(spec.sandbox_token_file))
        secrets = take_secrets(Path(spec.secrets_file))
        return cls.from_spec(spec, token, child_environment(environ), secrets)

    @classmethod
    def from_spec(cls, spec: LaunchSpec, token: str, child_env: Mapping[str, str],
                  secrets: Mapping[str, str] | None = None) -> SandboxConfig:
        """The config for ``spec`` with its bridge ``token``; ``child_env`` is what started processes get,
        ``secrets`` what scripts and the agent get on top of it."""
        secrets = dict(secrets or {})
        workspace = Path(spec.workspace).absolute()
        return cls(
            session_id=spec.session_id,
            sandbox_id=spec.sandbox_id,
            workspace=workspace,
            agent_name=spec.agent,
            bridge=BridgeSettings(
                control_plane_url=spec.control_plane_url,
                session_id=spec.session_id,
                sandbox_id=spec.sandbox_id,
                sandbox_token=token,
                heartbeat_interval_seconds=spec.heartbeat_interval_seconds,
            ),
            supervisor=SupervisorSettings(
                repo_url=spec.repo_url,
                branch=spec.branch or None,
                setup_timeout_seconds=spec.setup_timeout_seconds,
                start_timeout_seconds=spec.start_timeout_seconds,
                bot=Identity(spec.bot_name, spec.bot_email),
                work_branch=spec.work_branch or None,
                git_credentials=spec.git_credentials,
                verify_timeout_seconds=spec.verify_timeout_seconds,
                changes_max_file_bytes=spec.changes_max_file_bytes,
                changes_max_total_bytes=spec.changes_max_total_bytes,
            ),
            agent=AgentConfig(
                workdir=workspace / "repo",
                state_dir=workspace / "agent",
                model=spec.model,
                provider=ProviderConfig(
                    kind=spec.provider_kind,
                    base_url=spec.provider_base_url or None,
                    api_key=spec.provider_api_key or None,
                ),
                binary=spec.opencode_bin,
                env={**child_env, **secrets},
                work_branch=spec.work_branch or None,
            ),
            child_env=child_env,
            max_script_output_bytes=spec.max_script_output_bytes,
            max_outbox_events=spec.max_outbox_events,
            secrets=secrets,
        )


def take_token(path: Path) -> str:
    """The bridge token in ``path``, which is removed: it is readable once, by the runtime alone.

    A file that is missing, unreadable, empty or cannot be removed is a :class:`ConfigError`
    (a token the sandbox's processes could still read is not used).
    """
    where = f"{TOKEN_FILE_ENV} ({path})"
    token = _take(path, where, "the bridge token")
    if token is None or not token.strip():
        raise ConfigError(f"{where}: the bridge token's file is empty")
    return token.strip()


def take_secrets(path: Path) -> dict[str, str]:
    """The secrets in ``path`` (a JSON object of names to values), which is removed; no file: none.

    Unreadable, malformed or not removable is a :class:`ConfigError` (the message never quotes the file).
    """
    where = f"{SECRETS_FILE_ENV} ({path})"
    raw = _take(path, where, "the secrets", missing_ok=True)
    if raw is None:
        return {}
    try:
        secrets = json.loads(raw)
    except ValueError:
        raise ConfigError(f"{where}: the secrets' file is not JSON") from None
    if not isinstance(secrets, dict) or not all(
        isinstance(name, str) and _SECRET_NAME.fullmatch(name) and not name.startswith(ENV_PREFIX)
        and isinstance(value, str) for name, value in secrets.items()
    ):
        raise ConfigError(f"{where}: the secrets' file must be one JSON object of NAME: \"value\" pairs")
    return secrets


def _take(path: Path, where: str, what: str, *, missing_ok: bool = False) -> str | None:
    """``path``'s text, and the file removed (read once, by the runtime alone); None if it is missing
    and ``missing_ok``. Unreadable or not removable is a :class:`ConfigError` naming ``what``."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError as exc:
        if missing_ok:
            return None
        raise ConfigError(f"{where}: cannot read {what}: {_reason(exc)}") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{where}: cannot read {what}: {_reason(exc)}") from None
    try:
        path.unlink()
    except OSError as exc:
        raise ConfigError(f"{where}: cannot remove the file of {what} after reading it: {_reason(exc)}") from None
    return text


def _reason(exc: Exception) -> str:
    if isinstance(exc, OSError) and exc.strerror:
        return exc.strerror
    return type(exc).__name__


def child_environment(environ: Mapping[str, str]) -> dict[str, str]:
    """The environment for processes the sandbox starts (scripts, git, the agent).

    Everything but the sandbox's own settings (``OPENINSPECT_*``, secrets among
    them) and the git identity variables; repository secrets injected into the
    sandbox's environment under their own names pass through.
    """
    return {
        key: value
        for key, value in environ.items()
        if not key.startswith(ENV_PREFIX) and key not in _GIT_IDENTITY_NAMES
    }


def scrubbed_names() -> frozenset[str]:
    """Names the entrypoint drops from its own environment once the config is read.

    Whatever a part starts with the inherited environment (rather than
    :func:`child_environment`) then still sees no secret and no identity override.
    """
    return SECRET_ENV_NAMES | _GIT_IDENTITY_NAMES
