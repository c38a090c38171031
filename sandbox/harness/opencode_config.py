"""OpenCode's configuration: the config JSON, its credential file, the agent's environment, its state dir.

Everything here is pure except :func:`prepare_state_dir` and
:func:`write_credentials`, which touch only the state dir they are given: an
:class:`~sandbox.harness.base.AgentConfig` in, the ``opencode serve``
environment out. The config allows every tool permission but questions; the
environment keeps OpenCode offline (no model list fetch, auto-update, LSP
download or sharing) and carries the per-sandbox server credentials; the seeded
state dir stops OpenCode's plugin install from reaching the npm registry.

The model credential (the sandbox's model-proxy token; the provider's own key
never reaches a sandbox) is not in the environment: the agent's shell tool
inherits that environment, and so does everything it runs. It sits in a file of
its own, mode 0600, in the state dir, named by ``OPENCODE_CONFIG``; OpenCode
merges that file under the rest of the config, which stays in
``OPENCODE_CONFIG_CONTENT`` because OpenCode gives that one precedence over a
repository's own ``opencode.json`` (so a repository cannot re-point the
provider, the model or the permissions; it can only break its own credential).

The OpenCode server password cannot be kept out the same way: OpenCode 1.18.33
reads it only from ``OPENCODE_SERVER_PASSWORD`` and starts its shell tool with
its own environment (``{...process.env}``). It guards the server's port against
other processes; the agent it would hide it from is the one that server runs.

The session's branch and the pull-request tool (GitHub sessions, where
:attr:`~sandbox.harness.base.AgentConfig.work_branch` is set): the config declares
the local MCP server :mod:`sandbox.tools.pull_request_mcp` (OpenCode names its tool
``openinspect_create_pull_request``) and an instructions file (:func:`write_instructions`,
in the state dir) telling the agent that its work is pushed for it and how to open
a pull request. Live previews (a repository that declares its dev servers,
:attr:`~sandbox.harness.base.AgentConfig.preview_urls`): ``OPENINSPECT_PREVIEW_URLS`` in the
environment, and a section of the same instructions file.

What this module leaves to others: starting the process
(:mod:`sandbox.harness.opencode_process`), talking to it
(:mod:`sandbox.harness.opencode`); it reads no environment of its own — the
caller passes the base environment in.
"""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from openinspect_protocol.previews import PREVIEW_URLS_ENV, preview_urls_json

from sandbox.harness.base import AgentConfig, AgentStartError
from sandbox.tools import pull_request_mcp, screenshot_mcp

SERVER_USERNAME = "opencode"
CREDENTIALS_FILE = "opencode-credentials.json"  # in the state dir, mode 0600
INSTRUCTIONS_FILE = "openinspect-instructions.md"  # in the state dir
MCP_SERVER_NAME = pull_request_mcp.SERVER_NAME
# OpenCode's name for an MCP tool: "<server>_<tool>" (non [A-Za-z0-9_-] characters become "_").
PULL_REQUEST_TOOL = f"{MCP_SERVER_NAME}_{pull_request_mcp.TOOL_NAME}"
# Why: OpenCode's default MCP request timeout is 5 s; the tool waits for a push (bounded at
# 5 min) and the control plane's answer (bounded at 2 min), so it gets a little more than both.
PULL_REQUEST_TOOL_TIMEOUT_MS = 480_000
# The screenshot tool (every session): OpenCode names it "<server>_<tool>" like the PR tool.
SCREENSHOT_SERVER_NAME = screenshot_mcp.SERVER_NAME
SCREENSHOT_TOOL = f"{SCREENSHOT_SERVER_NAME}_{screenshot_mcp.TOOL_NAME}"
# Why: a page may take 30 s to load and 5 s to settle, then the upload up to a minute; a little more than all.
SCREENSHOT_TOOL_TIMEOUT_MS = 150_000

OFFLINE_ENVIRONMENT: Mapping[str, str] = {
    "OPENCODE_DISABLE_MODELS_FETCH": "1",
    "OPENCODE_DISABLE_AUTOUPDATE": "1",
    "OPENCODE_DISABLE_LSP_DOWNLOAD": "1",
    "OPENCODE_DISABLE_SHARE": "1",
    # `serve` as the client disables the interactive question tool.
    "OPENCODE_CLIENT": "serve",
    # The agent's own git never asks a terminal for credentials (nobody answers; it has none):
    # its `git push` fails at once instead of hanging the turn. The runtime pushes for it.
    "GIT_TERMINAL_PROMPT": "0",
    "GCM_INTERACTIVE": "never",
}

# Every permission allowed except questions: nobody is there to answer them.
PERMISSIONS: Mapping[str, str] = {
    name: "allow"
    for name in (
        "read", "edit", "glob", "grep", "list", "bash", "task", "external_directory", "todowrite",
        "webfetch", "websearch", "lsp", "doom_loop", "skill",
    )
} | {"question": "deny"}


def split_model(model: str) -> tuple[str, str]:
    """``"openinspect/scripted"`` -> ``("openinspect", "scripted")``."""
    provider_id, sep, model_id = model.partition("/")
    if not sep or not provider_id or not model_id:
        raise AgentStartError(f"model must look like 'provider/model', got {model!r}")
    return provider_id, model_id


def _provider_id(config: AgentConfig) -> str:
    provider_id, _ = split_model(config.model)
    return "anthropic" if config.provider.kind == "anthropic" else provider_id


def opencode_config(config: AgentConfig) -> dict[str, Any]:
    """The JSON OpenCode reads from ``OPENCODE_CONFIG_CONTENT``: everything but the credential."""
    provider_id, model_id = split_model(config.model)
    provider = config.provider
    options: dict[str, Any] = {}
    if provider.base_url:
        options["baseURL"] = provider.base_url
    result: dict[str, Any] = {
        "autoupdate": False,
        "share": "disabled",
        "model": config.model,
        "enabled_providers": [provider_id],
        "permission": dict(PERMISSIONS),
    }
    if config.work_branch or config.preview_urls or config.screenshot_socket:
        result["instructions"] = [str((config.state_dir / INSTRUCTIONS_FILE).absolute())]
    servers: dict[str, Any] = {}
    if config.pull_request_socket:
        servers[MCP_SERVER_NAME] = pull_request_mcp_server(config.pull_request_socket)
    if config.screenshot_socket:
        servers[SCREENSHOT_SERVER_NAME] = screenshot_mcp_server(config.screenshot_socket)
    if servers:
        result["mcp"] = servers
    match provider.kind:
        case "openai_compatible":
            if not provider.base_url:
                raise AgentStartError("an openai_compatible provider needs a base_url")
            result["provider"] = {
                provider_id: {
                    "npm": "@ai-sdk/openai-compatible",  # bundled in the binary: nothing to download
                    "name": provider_id,
                    "options": options,
                    "models": {model_id: {"name": model_id}},
                }
            }
            # Session titles come from the same model (else OpenCode looks for a "small" one).
            result["small_model"] = config.model
        case "anthropic":
            if provider_id != "anthropic":
                raise AgentStartError(f"anthropic models are named 'anthropic/<model>', got {config.model!r}")
            result["provider"] = {"anthropic": {"options": options}}
        case other:
            raise AgentStartError(f"unknown provider kind {other!r}")
    return result


# The directory that holds the ``sandbox`` package: the one entry of the tool servers' import path.
PACKAGE_ROOT = Path(__file__).resolve().parents[2]


def mcp_server(module: Any, socket_env: str, socket_path: str, timeout_ms: int) -> dict[str, Any]:
    """The ``mcp`` entry that runs one of our tool servers with this interpreter.

    ``-P -s`` and an explicit ``PYTHONPATH``: nothing of the repository the agent works in
    (OpenCode starts it there) or of the user's site-packages can shadow its modules.
    """
    return {
        "type": "local",
        "command": [sys.executable, "-P", "-s", "-m", module.__name__],
        "environment": {socket_env: socket_path, "PYTHONPATH": str(PACKAGE_ROOT)},
        "timeout": timeout_ms,
    }


def pull_request_mcp_server(socket_path: str) -> dict[str, Any]:
    """The ``mcp`` entry that runs the pull-request tool's server."""
    return mcp_server(pull_request_mcp, pull_request_mcp.SOCKET_ENV, socket_path, PULL_REQUEST_TOOL_TIMEOUT_MS)


def screenshot_mcp_server(socket_path: str) -> dict[str, Any]:
    """The ``mcp`` entry that runs the screenshot tool's server."""
    return mcp_server(screenshot_mcp, screenshot_mcp.SOCKET_ENV, socket_path, SCREENSHOT_TOOL_TIMEOUT_MS)


def screenshot_instructions() -> list[str]:
    """The instructions' lines about the screenshot tool."""
    return [
        "# Screenshots",
        "",
        f"To show people what a web page looks like, call the `{SCREENSHOT_TOOL}` tool: it opens the URL in "
        "Chromium in this sandbox, waits for the page to settle and attaches the screenshot to the session's "
        "timeline. Give it the `url` of the app as this sandbox reaches it (e.g. `http://127.0.0.1:<port>/` of "
        "the server `.openinspect/start.sh` started, or one you started yourself in the background), or no url "
        f"for the repository's declared preview (`{screenshot_mcp.PREVIEW_URLS_ENV}` lists them: port to URL). "
        "`device` is `desktop` (1280x800) or `phone` (390x844); `full_page` captures the whole page. After "
        "changing a page, take a screenshot of the result and say in your answer what it shows.",
    ]


def instructions_text(config: AgentConfig) -> str:
    """What the agent is told about the session's branch, pull requests and live previews."""
    lines: list[str] = []
    if config.work_branch:
        lines += [
            "# Git in this session",
            "",
            f"Your commits are pushed to the branch `{config.work_branch}` for you after each turn. "
            "Do not run `git push` yourself (it has no credentials and will fail), and stay on that branch.",
        ]
    if config.work_branch and config.pull_request_socket:
        lines.append(
            f"To open a pull request, commit your work, then call the `{PULL_REQUEST_TOOL}` tool with a title "
            "and a Markdown body; it pushes the branch and answers with the pull request's URL.")
    if config.preview_urls:
        previews = preview_instructions(config.preview_urls)
        lines += ["", *previews] if lines else previews
    if config.screenshot_socket:
        lines += ["", *screenshot_instructions()] if lines else screenshot_instructions()
    return "\n".join(lines) + "\n"


def preview_instructions(urls: Mapping[str, str]) -> list[str]:
    """The instructions' lines about the repository's declared dev servers (live previews)."""
    where = ", ".join(urls[port] for port in sorted(urls, key=int))
    return [
        "# Live previews",
        "",
        f"The repository's dev servers (started by `.openinspect/start.sh`) are reachable in this sandbox at {where} "
        f"(also in the `{PREVIEW_URLS_ENV}` environment variable, a JSON object of port to URL); people see them "
        "live through the session's \"Open preview\" buttons. Open them there to check or screenshot your changes.",
    ]


def write_instructions(state_dir: Path, config: AgentConfig) -> Path | None:
    """Write :func:`instructions_text` into ``state_dir`` (named in the config); None with nothing to say."""
    path = state_dir / INSTRUCTIONS_FILE
    if not (config.work_branch or config.preview_urls or config.screenshot_socket):
        path.unlink(missing_ok=True)
        return None
    path.write_text(instructions_text(config))
    return path


def credentials_config(config: AgentConfig) -> dict[str, Any] | None:
    """The part of the config that is secret (the API key), for the 0600 file; None without one."""
    if not config.provider.api_key:
        return None
    return {"provider": {_provider_id(config): {"options": {"apiKey": config.provider.api_key}}}}


def write_credentials(state_dir: Path, config: AgentConfig) -> Path | None:
    """Write :func:`credentials_config` into ``state_dir``, readable by this user alone; its path."""
    content = credentials_config(config)
    path = state_dir / CREDENTIALS_FILE
    if content is None:
        path.unlink(missing_ok=True)
        return None
    # Created 0600 (never briefly wider), and narrowed again if an older file was wider.
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_NOFOLLOW, 0o600)
    with os.fdopen(fd, "w") as file:
        os.fchmod(file.fileno(), 0o600)
        file.write(json.dumps(content))
    return path


def xdg_dirs(state_dir: Path) -> dict[str, Path]:
    return {
        "XDG_CONFIG_HOME": state_dir / "xdg" / "config",
        "XDG_DATA_HOME": state_dir / "xdg" / "data",
        "XDG_CACHE_HOME": state_dir / "xdg" / "cache",
        "XDG_STATE_HOME": state_dir / "xdg" / "state",
    }


def agent_environment(config: AgentConfig, password: str, base: Mapping[str, str],
                      credentials: Path | None = None) -> dict[str, str]:
    """The agent's environment: ``base`` minus our own settings, then ``config.env``, then ours.

    ``OPENINSPECT_*`` and stray ``OPENCODE_*`` variables of the sandbox process are
    dropped: the agent's bash tool inherits this environment. ``credentials`` is the
    file :func:`write_credentials` wrote (its path only is in the environment).
    """
    env = {k: v for k, v in base.items() if not k.startswith(("OPENINSPECT_", "OPENCODE_"))}
    env.update(config.env)
    env.update(OFFLINE_ENVIRONMENT)
    env.update({name: str(path) for name, path in xdg_dirs(config.state_dir).items()})
    env["OPENCODE_SERVER_USERNAME"] = SERVER_USERNAME
    env["OPENCODE_SERVER_PASSWORD"] = password
    env["OPENCODE_CONFIG_CONTENT"] = json.dumps(opencode_config(config))
    if config.preview_urls:  # read by the agent's screenshot tool (and anything the agent runs)
        env[PREVIEW_URLS_ENV] = preview_urls_json(config.preview_urls)
    if credentials is not None:
        env["OPENCODE_CONFIG"] = str(credentials)
    return env


def prepare_state_dir(state_dir: Path) -> None:
    """Create the XDG dirs and pre-seed OpenCode's global config dir.

    At start OpenCode runs a background ``npm install @opencode-ai/plugin`` into
    its config dir unless that dir already has ``node_modules`` and a lock file
    listing the package: that install would reach the npm registry.
    """
    state_dir.mkdir(parents=True, exist_ok=True)
    state_dir.chmod(0o700)  # the credential file and the conversation are this user's alone
    for path in xdg_dirs(state_dir).values():
        path.mkdir(parents=True, exist_ok=True)
    config_dir = xdg_dirs(state_dir)["XDG_CONFIG_HOME"] / "opencode"
    (config_dir / "node_modules").mkdir(parents=True, exist_ok=True)
    dependencies = {"@opencode-ai/plugin": "*"}
    package, lock = config_dir / "package.json", config_dir / "package-lock.json"
    if not package.exists():
        package.write_text(json.dumps({"dependencies": dependencies}))
    if not lock.exists():
        lock.write_text(json.dumps({"packages": {"": {"dependencies": dependencies}}}))

