"""The sandbox runtime's configuration, read once from the environment.

Only the entrypoint calls :meth:`SandboxConfig.from_env`; every part then gets
its own frozen sub-config (the bridge its :class:`BridgeSettings`, the
supervisor its :class:`SupervisorSettings`, the harness an
:class:`~sandbox.harness.base.AgentConfig`) and never looks at the environment.

Settings are data (name, default, help): :data:`SETTINGS` is the one list of
what a sandbox reads. Secrets (the sandbox token, the provider's API key) are
kept out of ``repr`` and out of the environment handed to anything the
sandbox starts (:func:`child_environment`).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import quote, urlsplit

from openinspect_app import protocol
from sandbox.harness.base import AgentConfig, ProviderConfig


class ConfigError(ValueError):
    """A setting is missing or has a value that cannot work; the message names it."""


@dataclass(frozen=True)
class Setting:
    env: str
    default: str | None  # None: required
    help: str


REQUIRED = None

SETTINGS: tuple[Setting, ...] = (
    Setting("OPENINSPECT_SESSION_ID", REQUIRED, "The session this sandbox serves."),
    Setting("OPENINSPECT_SANDBOX_ID", REQUIRED, "This sandbox's id (for logs)."),
    Setting("OPENINSPECT_SANDBOX_TOKEN", REQUIRED, "Bearer token for the bridge; never logged."),
    Setting("OPENINSPECT_CONTROL_PLANE_URL", REQUIRED, "Bridge server, ws:// or wss://, e.g. ws://127.0.0.1:8765."),
    Setting("OPENINSPECT_REPO_URL", REQUIRED, "Repository to clone: local path, file://, http(s)://."),
    Setting("OPENINSPECT_BRANCH", "", "Branch to check out; empty: the remote's default."),
    Setting("OPENINSPECT_WORKSPACE", REQUIRED, "Holds repo/ (the clone) and agent/ (agent state)."),
    Setting("OPENINSPECT_AGENT", "opencode", "Agent harness: a registered name or module:Class."),
    Setting("OPENINSPECT_OPENCODE_BIN", "opencode", "Path of the agent's executable."),
    Setting("OPENINSPECT_MODEL", REQUIRED, "Model as provider/model."),
    Setting("OPENINSPECT_PROVIDER_KIND", "openai_compatible", "openai_compatible or anthropic."),
    Setting("OPENINSPECT_PROVIDER_BASE_URL", "", "Base URL of the model provider's API."),
    Setting("OPENINSPECT_PROVIDER_API_KEY", "", "API key of the model provider; never logged."),
    Setting("OPENINSPECT_SETUP_TIMEOUT_SECONDS", "300", "Limit for .openinspect/setup.sh."),
    Setting("OPENINSPECT_START_TIMEOUT_SECONDS", "120", "Limit for .openinspect/start.sh."),
    Setting("OPENINSPECT_HEARTBEAT_INTERVAL_SECONDS", str(protocol.HEARTBEAT_INTERVAL_SECONDS),
            "How often the bridge sends a heartbeat."),
    Setting("OPENINSPECT_BOT_NAME", "Open-Inspect", "Committer name on the agent's commits."),
    Setting("OPENINSPECT_BOT_EMAIL", "bot@openinspect.local", "Committer email on the agent's commits."),
)
_DEFAULTS = {s.env: s.default for s in SETTINGS}

# Never handed to a process the sandbox starts: the sandbox's own settings (the
# bridge token would let the agent speak for the sandbox), and the git identity
# variables, which would override the per-prompt attribution in the clone's
# config (they beat git config).
_OWN_PREFIX = "OPENINSPECT_"
_SECRET_NAMES = frozenset({"OPENINSPECT_SANDBOX_TOKEN", "OPENINSPECT_PROVIDER_API_KEY"})
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
    heartbeat_interval_seconds: float = protocol.HEARTBEAT_INTERVAL_SECONDS
    reconnect_initial_delay_seconds: float = RECONNECT_INITIAL_DELAY_SECONDS
    reconnect_max_delay_seconds: float = RECONNECT_MAX_DELAY_SECONDS

    @property
    def url(self) -> str:
        return f"{self.control_plane_url.rstrip('/')}/bridge/{quote(self.session_id, safe='')}"


@dataclass(frozen=True)
class SupervisorSettings:
    """What the supervisor decides with: the repo to sync, script limits, the bot."""

    repo_url: str
    branch: str | None
    setup_timeout_seconds: float
    start_timeout_seconds: float
    bot: Identity


@dataclass(frozen=True)
class SandboxConfig:
    session_id: str
    sandbox_id: str
    workspace: Path
    agent_name: str
    bridge: BridgeSettings
    supervisor: SupervisorSettings
    agent: AgentConfig = field(repr=False)  # holds the provider's API key
    child_env: Mapping[str, str] = field(repr=False)  # environment for scripts, git and the agent

    @property
    def repo_dir(self) -> Path:
        return self.workspace / "repo"

    @property
    def agent_state_dir(self) -> Path:
        return self.workspace / "agent"

    @classmethod
    def from_env(cls, environ: Mapping[str, str]) -> SandboxConfig:
        """Read every setting from ``environ``; raise :class:`ConfigError` naming what is wrong."""

        def get(name: str) -> str:
            value = environ.get(name, "")
            return value if value != "" else (_DEFAULTS[name] or "")

        missing = [s.env for s in SETTINGS if s.default is REQUIRED and not environ.get(s.env)]
        if missing:
            raise ConfigError(f"missing required environment variable(s): {', '.join(missing)}")

        def seconds(name: str) -> float:
            raw = get(name)
            try:
                value = float(raw)
            except ValueError:
                raise ConfigError(f"{name} must be a number of seconds, got {raw!r}") from None
            if value <= 0:
                raise ConfigError(f"{name} must be positive, got {raw!r}")
            return value

        control_plane_url = get("OPENINSPECT_CONTROL_PLANE_URL")
        if urlsplit(control_plane_url).scheme not in ("ws", "wss"):
            raise ConfigError(
                f"OPENINSPECT_CONTROL_PLANE_URL must start with ws:// or wss://, got {control_plane_url!r}"
            )
        model = get("OPENINSPECT_MODEL")
        if "/" not in model.strip("/"):
            raise ConfigError(f"OPENINSPECT_MODEL must look like provider/model, got {model!r}")
        provider_kind = get("OPENINSPECT_PROVIDER_KIND")
        if provider_kind not in ("openai_compatible", "anthropic"):
            raise ConfigError(
                f"OPENINSPECT_PROVIDER_KIND must be openai_compatible or anthropic, got {provider_kind!r}"
            )
        workspace = Path(get("OPENINSPECT_WORKSPACE")).absolute()
        session_id = get("OPENINSPECT_SESSION_ID")
        sandbox_id = get("OPENINSPECT_SANDBOX_ID")
        child_env = child_environment(environ)
        return cls(
            session_id=session_id,
            sandbox_id=sandbox_id,
            workspace=workspace,
            agent_name=get("OPENINSPECT_AGENT"),
            bridge=BridgeSettings(
                control_plane_url=control_plane_url,
                session_id=session_id,
                sandbox_id=sandbox_id,
                sandbox_token=get("OPENINSPECT_SANDBOX_TOKEN"),
                heartbeat_interval_seconds=seconds("OPENINSPECT_HEARTBEAT_INTERVAL_SECONDS"),
            ),
            supervisor=SupervisorSettings(
                repo_url=get("OPENINSPECT_REPO_URL"),
                branch=get("OPENINSPECT_BRANCH") or None,
                setup_timeout_seconds=seconds("OPENINSPECT_SETUP_TIMEOUT_SECONDS"),
                start_timeout_seconds=seconds("OPENINSPECT_START_TIMEOUT_SECONDS"),
                bot=Identity(get("OPENINSPECT_BOT_NAME"), get("OPENINSPECT_BOT_EMAIL")),
            ),
            agent=AgentConfig(
                workdir=workspace / "repo",
                state_dir=workspace / "agent",
                model=model,
                provider=ProviderConfig(
                    kind=provider_kind,
                    base_url=get("OPENINSPECT_PROVIDER_BASE_URL") or None,
                    api_key=get("OPENINSPECT_PROVIDER_API_KEY") or None,
                ),
                binary=get("OPENINSPECT_OPENCODE_BIN"),
                env=child_env,
            ),
            child_env=child_env,
        )


def child_environment(environ: Mapping[str, str]) -> dict[str, str]:
    """The environment for processes the sandbox starts (scripts, git, the agent).

    Everything but the sandbox's own settings (``OPENINSPECT_*``, secrets among
    them) and the git identity variables; repository secrets injected into the
    sandbox's environment under their own names pass through.
    """
    return {
        key: value
        for key, value in environ.items()
        if not key.startswith(_OWN_PREFIX) and key not in _GIT_IDENTITY_NAMES
    }


def scrubbed_names() -> frozenset[str]:
    """Names the entrypoint drops from its own environment once the config is read.

    Whatever a part starts with the inherited environment (rather than
    :func:`child_environment`) then still sees no secret and no identity override.
    """
    return _SECRET_NAMES | _GIT_IDENTITY_NAMES
