"""Settings of the control plane, read once from an environment mapping.

Settings are data (name, default, help) so the README's table can be checked
against this list by a test. Only a composition root calls
:meth:`Settings.from_env`; everything else receives the frozen result.
"""

from __future__ import annotations

import shutil
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, fields
from pathlib import Path

from openinspect_protocol import launch

PROJECT_ROOT = Path(__file__).resolve().parent.parent


def _number(value: float) -> str:
    """A default as the README shows it: 300, not 300.0."""
    return f"{value:g}"


@dataclass(frozen=True)
class Setting:
    env: str
    default: str | None
    help: str
    # Read without code of its own into the field named after it (OPENINSPECT_MAX_FRAME_BYTES ->
    # max_frame_bytes): "int", "float", "bool", "str" or "list" (comma-separated); "" for the older, hand-read ones.
    kind: str = ""

    @property
    def field_name(self) -> str:
        return self.env.removeprefix("OPENINSPECT_").lower()


SETTINGS: tuple[Setting, ...] = (
    Setting("OPENINSPECT_DATA_DIR", ".data", "Directory for the SQLite file and local sandbox workspaces."),
    Setting("OPENINSPECT_DATABASE_URL", None,
            "SQLAlchemy URL; default a SQLite file in the data dir. "
            "`postgresql://user@host/db` uses psycopg 3."),
    Setting("OPENINSPECT_BRIDGE_HOST", "127.0.0.1", "Interface the sandbox-bridge WebSocket server binds."),
    Setting("OPENINSPECT_BRIDGE_PORT", "8765", "Port of the sandbox-bridge WebSocket server (0 = any free)."),
    Setting("OPENINSPECT_BRIDGE_PUBLIC_URL", None,
            "URL sandboxes use to reach the bridge server; default ws://<host>:<port>."),
    Setting("OPENINSPECT_BACKGROUND_JOBS", "in_process",
            "`in_process`: the web process also runs the background jobs (embedded default); "
            "`off`: they run elsewhere (`python -m backend_jobs`, PostgreSQL required)."),
    Setting("OPENINSPECT_SANDBOX_BACKEND", "local",
            "Sandbox backend: `local` (processes here), `kubernetes` (Jobs) or `manual` (started by hand)."),
    Setting("OPENINSPECT_K8S_NAMESPACE", "openinspect-sandboxes", "Kubernetes backend: namespace of sandbox Jobs."),
    Setting("OPENINSPECT_K8S_IMAGE", "openinspect/sandbox:0.1.0", "Kubernetes backend: the sandbox image."),
    Setting("OPENINSPECT_K8S_KUBECONFIG", None,
            "Kubernetes backend: kubeconfig file; default the in-cluster service account."),
    Setting("OPENINSPECT_K8S_RUNTIME_CLASS", None, "Kubernetes backend: `runtimeClassName` (e.g. `gvisor`)."),
    Setting("OPENINSPECT_K8S_CPU", "500m/2", "Kubernetes backend: sandbox CPU as `request/limit`."),
    Setting("OPENINSPECT_K8S_MEMORY", "1Gi/4Gi", "Kubernetes backend: sandbox memory as `request/limit`."),
    Setting("OPENINSPECT_K8S_TTL_AFTER_FINISHED_SECONDS", "300",
            "Kubernetes backend: finished sandbox Jobs are deleted after this long."),
    Setting("OPENINSPECT_SANDBOX_MAX_LIFETIME_SECONDS", "14400",  # both backends enforce it
            "Longest a sandbox may live (Kubernetes: the Job's activeDeadlineSeconds)."),
    Setting("OPENINSPECT_OPENCODE_BIN", None,
            "Path of the `opencode` binary; default the pinned copy in node_modules/, else PATH."),
    Setting("OPENINSPECT_MODEL", "openinspect/scripted",
            "Model as `provider/model`, e.g. `openinspect/gpt-4.1` or `anthropic/claude-sonnet-4-5`."),
    Setting("OPENINSPECT_PROVIDER_KIND", "openai_compatible", "`openai_compatible` or `anthropic`."),
    Setting("OPENINSPECT_PROVIDER_BASE_URL", None,
            "Base URL of an OpenAI-compatible API (ending in /v1) for `openai_compatible`."),
    Setting("OPENINSPECT_PROVIDER_API_KEY", None, "API key for the model provider (never sent to browsers)."),
    Setting("OPENINSPECT_SETUP_TIMEOUT_SECONDS", _number(launch.SETUP_TIMEOUT_SECONDS),
            "Limit for a repository's .openinspect/setup.sh."),
    Setting("OPENINSPECT_START_TIMEOUT_SECONDS", _number(launch.START_TIMEOUT_SECONDS),
            "Limit for a repository's .openinspect/start.sh."),
    Setting("OPENINSPECT_HEARTBEAT_INTERVAL_SECONDS", _number(launch.HEARTBEAT_INTERVAL_SECONDS),
            "How often a sandbox sends a heartbeat."),
    Setting("OPENINSPECT_HEARTBEAT_STALE_SECONDS", _number(launch.HEARTBEAT_STALE_SECONDS),
            "A sandbox silent this long is declared failed."),
    Setting("OPENINSPECT_SANDBOX_IDLE_TIMEOUT_SECONDS", "1800",
            "Stop a sandbox after this long with nothing to do (0 = never); the next prompt starts one."),
    Setting("OPENINSPECT_BOT_NAME", launch.BOT_NAME, "Committer name on the agent's commits."),
    Setting("OPENINSPECT_BOT_EMAIL", launch.BOT_EMAIL, "Committer email on the agent's commits."),
    Setting("OPENINSPECT_MAX_PROMPT_CHARS", "64000", "Longest prompt accepted."),
    Setting("OPENINSPECT_MAX_PENDING_PROMPTS", "10", "Most unfinished (queued or running) prompts per session."),
    Setting("OPENINSPECT_LOG_FORMAT", "text",
            "`text` (readable in a terminal) or `json` (one JSON object per line, for production)."),
    # Who is asking (docs/security.md).
    Setting("OPENINSPECT_WEB_HOST", "127.0.0.1",
            "Interface the web app binds; beyond loopback only with an identity provider other than local sign-in.",
            "str"),
    Setting("OPENINSPECT_WEB_PORT", "3000", "Port of the web app and REST API.", "int"),
    Setting("OPENINSPECT_PUBLIC_URL", None,
            "The app's own origin as browsers reach it (CORS, CSRF and Host checks); default http://<web host>:<port>.",
            "str"),
    Setting("OPENINSPECT_ALLOWED_HOSTS", "",
            "More `Host` header values to accept, comma-separated (the public URL's host always is).", "list"),
    Setting("OPENINSPECT_IDENTITY_PROVIDER", "local",
            "How people sign in: `local` (name and email, loopback only).", "str"),
    Setting("OPENINSPECT_SESSION_SECRET", None,
            "Key that signs sign-in cookies; default a random key kept in `<data dir>/session-secret` (mode 0600).",
            "str"),
    Setting("OPENINSPECT_SESSION_TTL_SECONDS", "1209600", "A sign-in lasts this long (default 14 days).", "int"),
    Setting("OPENINSPECT_METRICS_TOKEN", None,
            "Bearer token Prometheus scrapes `/metrics` with (web app; and a separate worker's bridge port, where "
            "only it is accepted); at least 16 characters. People may also use their sign-in or API token.", "str"),
    # Which repositories a session may use.
    Setting("OPENINSPECT_REPO_HOSTS", "github.com", "Hosts http(s) repository URLs may name, comma-separated.",
            "list"),
    Setting("OPENINSPECT_REPO_ROOTS", "~",
            "Directories local repository paths must be under, comma-separated (never the data dir).", "list"),
    Setting("OPENINSPECT_REPO_ALLOW_PRIVATE_NETWORKS", "false",
            "Allow repository URLs whose host is a loopback or private address (never link-local/metadata).",
            "bool"),
    # Bounds: each refusal says which one.
    Setting("OPENINSPECT_MAX_ACTIVE_SESSIONS_PER_USER", "100", "Most sessions one person has that are not archived.",
            "int"),
    Setting("OPENINSPECT_MAX_SANDBOXES", "20", "Most sandboxes alive at once, overall.", "int"),
    Setting("OPENINSPECT_MAX_SANDBOXES_PER_USER", "5", "Most sandboxes alive at once for one person's sessions.",
            "int"),
    Setting("OPENINSPECT_MAX_REQUEST_BYTES", "1048576", "Largest request body (chunked or not).", "int"),
    Setting("OPENINSPECT_MAX_PAGE_BYTES", "1048576", "Most bytes of events in one page or stream batch.", "int"),
    # Live previews (docs/previews.md#live-previews): the web process proxies a sandbox's declared dev servers.
    Setting("OPENINSPECT_PREVIEW_TIMEOUT_SECONDS", "30",
            "Live previews: longest wait for a dev server to connect and to answer (then 504).", "int"),
    Setting("OPENINSPECT_PREVIEW_MAX_RESPONSE_BYTES", "67108864",
            "Live previews: largest answer passed on from a dev server (a larger one is refused or cut off).", "int"),
    Setting("OPENINSPECT_PREVIEW_GRANT_SECONDS", "3600",
            "Live previews: how long an opened preview's URL works before the page must be opened again.", "int"),
    Setting("OPENINSPECT_MAX_FRAME_BYTES", "262144", "Largest frame a sandbox bridge may send.", "int"),
    Setting("OPENINSPECT_BRIDGE_MAX_EVENTS_PER_SECOND", "500", "Sustained events per second one sandbox may send.",
            "int"),
    Setting("OPENINSPECT_BRIDGE_MAX_BYTES_PER_SECOND", "2097152", "Sustained bytes per second one sandbox may send.",
            "int"),
    # The verify gate and the Changes panel (docs/previews.md#verify-gate, #changes).
    Setting("OPENINSPECT_VERIFY_TIMEOUT_SECONDS", _number(launch.VERIFY_TIMEOUT_SECONDS),
            "Limit for `.openinspect/verify.sh`, run after each turn that made commits; still running then, it "
            "is killed and reported as timed out.", "int"),
    Setting("OPENINSPECT_CHANGES_MAX_FILE_BYTES", str(launch.CHANGES_MAX_FILE_BYTES),
            "A file whose diff is larger is folded in the Changes panel (its counts are still shown).", "int"),
    Setting("OPENINSPECT_CHANGES_MAX_TOTAL_BYTES", str(launch.CHANGES_MAX_TOTAL_BYTES),
            "Diffs beyond this many bytes in all are folded in the Changes panel (at most 229376: one event).",
            "int"),
    # The model proxy: sandboxes reach the model through it and never hold the provider's key.
    Setting("OPENINSPECT_MODEL_PROXY_HOST", "127.0.0.1", "Interface the model proxy binds.", "str"),
    Setting("OPENINSPECT_MODEL_PROXY_PORT", "8766", "Port of the model proxy (0 = any free).", "int"),
    Setting("OPENINSPECT_MODEL_PROXY_PUBLIC_URL", None,
            "URL sandboxes use to reach the model proxy; default http://<host>:<port>.", "str"),
    # Cost (docs/previews.md#cost): what the proxy meters, and when a session's queue waits.
    Setting("OPENINSPECT_SESSION_SPEND_LIMIT_USD", None,
            "Default spend limit of a session in USD (each session may override it); once reached, the running "
            "turn finishes and queued prompts wait. Unset: no limit.", "float"),
    Setting("OPENINSPECT_MODEL_PRICES", "",
            "Prices for models whose answers state no cost, comma-separated `model=input/output` in USD per "
            "million tokens (`*` for any other), e.g. `gpt-4.1=2/8,*=1/4`; unpriced calls cost 0.", "list"),
    # GitHub (docs/github.md): sign-in, the App's repositories, pushes and pull requests.
    Setting("OPENINSPECT_GITHUB_APP_ID", None, "The GitHub App's id; set, sessions use the App's repositories.",
            "str"),
    Setting("OPENINSPECT_GITHUB_APP_PRIVATE_KEY_FILE", None, "File holding the App's private key (PEM).", "str"),
    Setting("OPENINSPECT_GITHUB_APP_PRIVATE_KEY", None,
            "The App's private key itself (PEM), instead of a file.", "str"),
    Setting("OPENINSPECT_GITHUB_CLIENT_ID", None, "The App's client id (sign-in with GitHub).", "str"),
    Setting("OPENINSPECT_GITHUB_CLIENT_SECRET", None, "The App's client secret (sign-in with GitHub).", "str"),
    Setting("OPENINSPECT_GITHUB_WEBHOOK_SECRET", None,
            "The App's webhook secret: deliveries whose signature does not match are refused.", "str"),
    Setting("OPENINSPECT_GITHUB_ORGS", "",
            "GitHub organisations whose members may sign in, comma-separated.", "list"),
    Setting("OPENINSPECT_GITHUB_ALLOWED_LOGINS", "",
            "GitHub logins that may sign in whatever their organisations, comma-separated.", "list"),
    Setting("OPENINSPECT_GITHUB_URL", "https://github.com",
            "GitHub's web address (sign-in pages, git over HTTPS); GitHub Enterprise Server's own.", "str"),
    Setting("OPENINSPECT_GITHUB_API_URL", "https://api.github.com",
            "GitHub's REST API (GitHub Enterprise Server: https://HOST/api/v3).", "str"),
    Setting("OPENINSPECT_ENCRYPTION_KEY", None,
            "Key (base64 of 32 bytes) that encrypts tokens and secrets at rest; default a random key kept in "
            "`<data dir>/encryption-key` (mode 0600).", "str"),
    Setting("OPENINSPECT_ENCRYPTION_PREVIOUS_KEYS", "",
            "Earlier encryption keys (base64, comma-separated) that still decrypt values made before a rotation; "
            "also read from `<data dir>/encryption-key.previous` (one per line, mode 0600).", "list"),
    Setting("OPENINSPECT_SLACK_BOT_TOKEN", None,
            "The Slack app's bot token (`xoxb-…`); set, the Slack bot runs (docs/slack.md).", "str"),
    Setting("OPENINSPECT_SLACK_SIGNING_SECRET", None,
            "The Slack app's signing secret: Events API deliveries over HTTP are checked with it.", "str"),
    Setting("OPENINSPECT_SLACK_APP_TOKEN", None,
            "An app-level token (`xapp-…`, `connections:write`): Slack reaches the bot over Socket Mode, "
            "no public URL needed; unset, over HTTP at `/slack/events`.", "str"),
    Setting("OPENINSPECT_SLACK_IN_PROCESS", "true",
            "The web process runs the Slack bot when a bot token is set; `false`: `python -m backend_jobs.slack` "
            "runs it.", "bool"),
    Setting("OPENINSPECT_SLACK_HOST", "127.0.0.1",
            "`python -m backend_jobs.slack`: the interface it listens on (`GET /healthz`; over HTTP also "
            "`POST /slack/events`).", "str"),
    Setting("OPENINSPECT_SLACK_PORT", "3100",
            "`python -m backend_jobs.slack`: its port (`GET /healthz`; over HTTP Slack posts to `/slack/events`).",
            "int"),
    Setting("OPENINSPECT_SLACK_API_URL", "https://slack.com/api/", "Slack's Web API.", "str"),
    Setting("OPENINSPECT_SLACK_CHOOSER_MODEL", None,
            "When the rules cannot choose a repository, ask this model (`provider/model`, through the "
            "provider settings) before offering buttons; unset, buttons at once.", "str"),
    # Artifacts (screenshots the agent takes): docs/previews.md#screenshots.
    Setting("OPENINSPECT_ARTIFACT_MAX_BYTES", "10485760",
            "Largest artifact (a screenshot) a sandbox may upload, in bytes (default 10 MiB).", "int"),
    Setting("OPENINSPECT_ARTIFACT_MAX_PER_SESSION", "500", "Most artifacts (screenshots) one session may keep.",
            "int"),
    Setting("OPENINSPECT_ARTIFACT_S3_BUCKET", None,
            "Keep artifacts in this S3-compatible bucket; unset, as files under `<data dir>/artifacts`.", "str"),
    Setting("OPENINSPECT_ARTIFACT_S3_ENDPOINT_URL", "https://s3.amazonaws.com",
            "The bucket's S3 endpoint (MinIO, Ceph, R2…: its own URL).", "str"),
    Setting("OPENINSPECT_ARTIFACT_S3_REGION", None, "The bucket's region; unset, asked of the endpoint.", "str"),
    Setting("OPENINSPECT_ARTIFACT_S3_PREFIX", "artifacts/", "Key prefix of artifacts in the bucket.", "str"),
    Setting("OPENINSPECT_ARTIFACT_S3_ACCESS_KEY_ID", None,
            "Access key for the bucket; unset, `AWS_ACCESS_KEY_ID`/`AWS_SECRET_ACCESS_KEY` or the instance's role.",
            "str"),
    Setting("OPENINSPECT_ARTIFACT_S3_SECRET_ACCESS_KEY", None, "Secret key for the bucket (with the access key).",
            "str"),
)
_DEFAULTS = {s.env: s.default for s in SETTINGS}


class ConfigError(ValueError):
    """A setting has a value that cannot work; the message names it."""


IDENTITY_PROVIDERS = ("local", "github")


def _typed(setting: Setting, raw: str | None, number: Callable[[str, type[int]], float]) -> object:
    match setting.kind:
        case "int":
            return int(number(setting.env, int))
        case "bool":
            value = (raw or "").strip().lower()
            if value not in ("true", "false", "1", "0", "yes", "no"):
                raise ConfigError(f"{setting.env} must be true or false, got {raw!r}")
            return value in ("true", "1", "yes")
        case "list":
            return tuple(item.strip() for item in (raw or "").split(",") if item.strip())
        case "float":
            return None if raw is None else float(number(setting.env, float))  # type: ignore[arg-type]
        case _:
            return raw


def _check_github(values: dict[str, object]) -> None:
    """GitHub settings that cannot work together are refused at start, naming what is missing."""
    if values["identity_provider"] == "github":
        missing = [name for name in ("github_client_id", "github_client_secret") if not values[name]]
        if missing:
            raise ConfigError("OPENINSPECT_IDENTITY_PROVIDER=github needs "
                              + " and ".join(f"OPENINSPECT_{m.upper()}" for m in missing))
        if not values["github_orgs"] and not values["github_allowed_logins"]:
            raise ConfigError("OPENINSPECT_IDENTITY_PROVIDER=github needs OPENINSPECT_GITHUB_ORGS or "
                              "OPENINSPECT_GITHUB_ALLOWED_LOGINS: nobody else may sign in")
    if values["github_app_id"] is not None:
        if not str(values["github_app_id"]).isdigit():
            raise ConfigError("OPENINSPECT_GITHUB_APP_ID must be the App's numeric id, "
                              f"got {values['github_app_id']!r}")
        if not values["github_app_private_key"] and not values["github_app_private_key_file"]:
            raise ConfigError("OPENINSPECT_GITHUB_APP_ID is set: set OPENINSPECT_GITHUB_APP_PRIVATE_KEY_FILE "
                              "(or OPENINSPECT_GITHUB_APP_PRIVATE_KEY) too")
    for name in ("github_url", "github_api_url"):
        url = str(values[name])
        if not url.startswith(("https://", "http://")):
            raise ConfigError(f"OPENINSPECT_{name.upper()} must be an http(s) URL, got {url!r}")
        values[name] = url.rstrip("/")


def _check_slack(values: dict[str, object]) -> None:
    """Slack settings that cannot work together are refused at start, naming what is missing."""
    if values["slack_bot_token"] is None:
        return
    if not str(values["slack_bot_token"]).startswith("xoxb-"):
        raise ConfigError("OPENINSPECT_SLACK_BOT_TOKEN must be the bot token (xoxb-...)")
    app_token = values["slack_app_token"]
    if app_token is not None and not str(app_token).startswith("xapp-"):
        raise ConfigError("OPENINSPECT_SLACK_APP_TOKEN must be an app-level token (xapp-...)")
    if app_token is None and not values["slack_signing_secret"]:
        raise ConfigError("Slack over HTTP (no OPENINSPECT_SLACK_APP_TOKEN) needs OPENINSPECT_SLACK_SIGNING_SECRET: "
                          "deliveries must be checked")
    url = str(values["slack_api_url"])
    if not url.startswith(("https://", "http://")):
        raise ConfigError(f"OPENINSPECT_SLACK_API_URL must be an http(s) URL, got {url!r}")
    values["slack_api_url"] = url.rstrip("/") + "/"  # slack_sdk joins method names onto it
    model = values["slack_chooser_model"]
    if model is not None and "/" not in str(model):
        raise ConfigError(f"OPENINSPECT_SLACK_CHOOSER_MODEL must look like provider/model, got {model!r}")


def _check_artifacts(values: dict[str, object]) -> None:
    """Artifact settings that cannot work are refused at start, naming the setting."""
    if int(values["artifact_max_bytes"]) < 1024:  # type: ignore[call-overload]
        raise ConfigError("OPENINSPECT_ARTIFACT_MAX_BYTES must be at least 1024 (no screenshot is smaller)")
    if values["artifact_s3_bucket"] is None:
        return
    url = str(values["artifact_s3_endpoint_url"])
    if not url.startswith(("https://", "http://")):
        raise ConfigError(f"OPENINSPECT_ARTIFACT_S3_ENDPOINT_URL must be an http(s) URL, got {url!r}")
    if bool(values["artifact_s3_access_key_id"]) != bool(values["artifact_s3_secret_access_key"]):
        raise ConfigError("OPENINSPECT_ARTIFACT_S3_ACCESS_KEY_ID and OPENINSPECT_ARTIFACT_S3_SECRET_ACCESS_KEY "
                          "go together: set both, or neither")

def _opencode_default() -> str:
    pinned = PROJECT_ROOT / "node_modules" / ".bin" / "opencode"
    if pinned.exists():
        return str(pinned)
    return shutil.which("opencode") or str(pinned)


def _request_limit(name: str, value: str | None) -> str:
    parts = (value or "").split("/")
    if len(parts) != 2 or not all(parts):
        raise ConfigError(f"{name} must look like request/limit (e.g. 500m/2), got {value!r}")
    return value  # type: ignore[return-value]


def normalise_database_url(url: str) -> str:
    """Accept the usual spellings and pick the async drivers this project pins."""
    if url.startswith(("postgres://", "postgresql://")):
        return "postgresql+psycopg://" + url.split("://", 1)[1]
    if url.startswith("sqlite:///"):
        return "sqlite+aiosqlite:///" + url.removeprefix("sqlite:///")
    return url


@dataclass(frozen=True)
class Settings:
    data_dir: Path
    database_url: str
    bridge_host: str
    bridge_port: int
    bridge_public_url: str | None
    background_jobs_in_process: bool
    sandbox_backend: str
    k8s_namespace: str
    k8s_image: str
    k8s_kubeconfig: str | None
    k8s_runtime_class: str | None
    k8s_cpu: str
    k8s_memory: str
    k8s_ttl_after_finished_seconds: int
    sandbox_max_lifetime_seconds: int
    opencode_bin: str
    model: str
    provider_kind: str
    provider_base_url: str | None
    provider_api_key: str | None = field(repr=False)
    setup_timeout_seconds: float
    start_timeout_seconds: float
    heartbeat_interval_seconds: float
    heartbeat_stale_seconds: float
    sandbox_idle_timeout_seconds: float
    bot_name: str
    bot_email: str
    max_prompt_chars: int
    max_pending_prompts: int
    log_json: bool
    web_host: str
    web_port: int
    public_url: str | None
    allowed_hosts: tuple[str, ...]
    identity_provider: str
    session_secret: str | None = field(repr=False)
    session_ttl_seconds: int
    metrics_token: str | None = field(repr=False)
    repo_hosts: tuple[str, ...]
    repo_roots: tuple[str, ...]
    repo_allow_private_networks: bool
    max_active_sessions_per_user: int
    max_sandboxes: int
    max_sandboxes_per_user: int
    max_request_bytes: int
    max_page_bytes: int
    preview_timeout_seconds: int
    preview_max_response_bytes: int
    preview_grant_seconds: int
    max_frame_bytes: int
    bridge_max_events_per_second: int
    bridge_max_bytes_per_second: int
    verify_timeout_seconds: int
    changes_max_file_bytes: int
    changes_max_total_bytes: int
    model_proxy_host: str
    model_proxy_port: int
    model_proxy_public_url: str | None
    session_spend_limit_usd: float | None
    model_prices: tuple[str, ...]
    github_app_id: str | None
    github_app_private_key_file: str | None
    github_app_private_key: str | None = field(repr=False)
    github_client_id: str | None
    github_client_secret: str | None = field(repr=False)
    github_webhook_secret: str | None = field(repr=False)
    github_orgs: tuple[str, ...]
    github_allowed_logins: tuple[str, ...]
    github_url: str
    github_api_url: str
    encryption_key: str | None = field(repr=False)
    encryption_previous_keys: tuple[str, ...] = field(repr=False)
    slack_bot_token: str | None = field(repr=False)
    slack_signing_secret: str | None = field(repr=False)
    slack_app_token: str | None = field(repr=False)
    slack_in_process: bool
    slack_host: str
    slack_port: int
    slack_api_url: str
    slack_chooser_model: str | None
    artifact_max_bytes: int
    artifact_max_per_session: int
    artifact_s3_bucket: str | None
    artifact_s3_endpoint_url: str
    artifact_s3_region: str | None
    artifact_s3_prefix: str
    artifact_s3_access_key_id: str | None
    artifact_s3_secret_access_key: str | None = field(repr=False)

    @property
    def slack_enabled(self) -> bool:
        """A Slack app is configured: a Slack bot runs (in this process or its own)."""
        return self.slack_bot_token is not None

    @property
    def slack_socket_mode(self) -> bool:
        return self.slack_app_token is not None

    @property
    def github_enabled(self) -> bool:
        """A GitHub App is configured: repositories come from its installations."""
        return self.github_app_id is not None

    def github_private_key(self) -> str:
        """The App's private key (PEM), from the setting or its file."""
        if self.github_app_private_key:
            return self.github_app_private_key
        if not self.github_app_private_key_file:
            raise ConfigError("OPENINSPECT_GITHUB_APP_ID is set: set OPENINSPECT_GITHUB_APP_PRIVATE_KEY_FILE "
                              "(or OPENINSPECT_GITHUB_APP_PRIVATE_KEY) too")
        try:
            return Path(self.github_app_private_key_file).expanduser().read_text()
        except OSError as exc:
            raise ConfigError(f"OPENINSPECT_GITHUB_APP_PRIVATE_KEY_FILE: cannot read "
                              f"{self.github_app_private_key_file}: {exc.strerror}") from None

    @property
    def origin(self) -> str:
        """The app's own origin (scheme://host[:port]) as browsers reach it."""
        host = f"[{self.web_host}]" if ":" in self.web_host else self.web_host  # an IPv6 literal
        return (self.public_url or f"http://{host}:{self.web_port}").rstrip("/")

    @property
    def on_loopback(self) -> bool:
        return self.web_host in ("127.0.0.1", "localhost", "::1")

    @classmethod
    def from_env(cls, environ: Mapping[str, str], **overrides: object) -> Settings:
        def get(name: str) -> str | None:
            value = environ.get(name)
            return value if value not in (None, "") else _DEFAULTS[name]

        def number(name: str, kind: type[int] | type[float]) -> int | float:
            raw = get(name)
            try:
                value = kind(raw)  # type: ignore[arg-type]
            except (TypeError, ValueError):
                raise ConfigError(f"{name} must be a number, got {raw!r}") from None
            if value < 0:
                raise ConfigError(f"{name} must not be negative, got {raw!r}")
            return value

        data_dir = Path(get("OPENINSPECT_DATA_DIR") or ".data").resolve()
        database_url = get("OPENINSPECT_DATABASE_URL") or f"sqlite:///{data_dir / 'openinspect.db'}"
        provider_kind = get("OPENINSPECT_PROVIDER_KIND") or "openai_compatible"
        if provider_kind not in ("openai_compatible", "anthropic"):
            raise ConfigError(f"OPENINSPECT_PROVIDER_KIND must be openai_compatible or anthropic, "
                              f"got {provider_kind!r}")
        jobs = get("OPENINSPECT_BACKGROUND_JOBS")
        if jobs not in ("in_process", "off"):
            raise ConfigError(f"OPENINSPECT_BACKGROUND_JOBS must be in_process or off, got {jobs!r}")
        log_format = get("OPENINSPECT_LOG_FORMAT")
        if log_format not in ("text", "json"):
            raise ConfigError(f"OPENINSPECT_LOG_FORMAT must be text or json, got {log_format!r}")
        model = get("OPENINSPECT_MODEL") or ""
        if "/" not in model:
            raise ConfigError(f"OPENINSPECT_MODEL must look like provider/model, got {model!r}")
        values: dict[str, object] = dict(
            data_dir=data_dir,
            database_url=normalise_database_url(database_url),
            bridge_host=get("OPENINSPECT_BRIDGE_HOST"),
            bridge_port=int(number("OPENINSPECT_BRIDGE_PORT", int)),
            bridge_public_url=get("OPENINSPECT_BRIDGE_PUBLIC_URL"),
            background_jobs_in_process=jobs == "in_process",
            sandbox_backend=get("OPENINSPECT_SANDBOX_BACKEND"),
            k8s_namespace=get("OPENINSPECT_K8S_NAMESPACE"),
            k8s_image=get("OPENINSPECT_K8S_IMAGE"),
            k8s_kubeconfig=get("OPENINSPECT_K8S_KUBECONFIG"),
            k8s_runtime_class=get("OPENINSPECT_K8S_RUNTIME_CLASS"),
            k8s_cpu=_request_limit("OPENINSPECT_K8S_CPU", get("OPENINSPECT_K8S_CPU")),
            k8s_memory=_request_limit("OPENINSPECT_K8S_MEMORY", get("OPENINSPECT_K8S_MEMORY")),
            k8s_ttl_after_finished_seconds=int(number("OPENINSPECT_K8S_TTL_AFTER_FINISHED_SECONDS", int)),
            sandbox_max_lifetime_seconds=int(number("OPENINSPECT_SANDBOX_MAX_LIFETIME_SECONDS", int)),
            opencode_bin=get("OPENINSPECT_OPENCODE_BIN") or _opencode_default(),
            model=model,
            provider_kind=provider_kind,
            provider_base_url=get("OPENINSPECT_PROVIDER_BASE_URL"),
            provider_api_key=get("OPENINSPECT_PROVIDER_API_KEY"),
            setup_timeout_seconds=float(number("OPENINSPECT_SETUP_TIMEOUT_SECONDS", float)),
            start_timeout_seconds=float(number("OPENINSPECT_START_TIMEOUT_SECONDS", float)),
            heartbeat_interval_seconds=float(number("OPENINSPECT_HEARTBEAT_INTERVAL_SECONDS", float)),
            heartbeat_stale_seconds=float(number("OPENINSPECT_HEARTBEAT_STALE_SECONDS", float)),
            sandbox_idle_timeout_seconds=float(number("OPENINSPECT_SANDBOX_IDLE_TIMEOUT_SECONDS", float)),
            bot_name=get("OPENINSPECT_BOT_NAME"),
            bot_email=get("OPENINSPECT_BOT_EMAIL"),
            max_prompt_chars=int(number("OPENINSPECT_MAX_PROMPT_CHARS", int)),
            max_pending_prompts=int(number("OPENINSPECT_MAX_PENDING_PROMPTS", int)),
            log_json=log_format == "json",
        )
        for setting in SETTINGS:
            if setting.kind:
                values[setting.field_name] = _typed(setting, get(setting.env), number)
        if values["identity_provider"] not in IDENTITY_PROVIDERS:
            raise ConfigError(f"OPENINSPECT_IDENTITY_PROVIDER must be one of {', '.join(IDENTITY_PROVIDERS)}, "
                              f"got {values['identity_provider']!r}")
        _check_github(values)
        _check_slack(values)
        _check_artifacts(values)
        for name in ("preview_timeout_seconds", "preview_max_response_bytes", "preview_grant_seconds"):
            if int(values[name]) <= 0:  # type: ignore[call-overload]
                raise ConfigError(f"OPENINSPECT_{name.upper()} must be a positive number")
        token = values["metrics_token"]
        if token is not None and len(str(token)) < 16:  # guessable; metrics.MIN_TOKEN_CHARS (core imports settings)
            raise ConfigError("OPENINSPECT_METRICS_TOKEN must have at least 16 characters")
        known = {f.name for f in fields(cls)}
        unknown = set(overrides) - known
        if unknown:
            raise ConfigError(f"unknown settings: {sorted(unknown)}")
        values.update(overrides)
        return cls(**values)  # type: ignore[arg-type]
