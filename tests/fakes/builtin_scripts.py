"""The scripts the scripted model knows without registration (arguments in brackets are optional).

* ``write-file [path=hello.txt] [content=<text>]`` — OpenCode's ``write`` tool (absolute
  path resolved against the working directory found in the system prompt); the
  content defaults to the body, then to ``"hello\\n"``. Then reports.
* ``bash command=<cmd>`` — OpenCode's ``bash`` tool, then reports the output.
* ``commit [path=CHANGES.md] [content=<text>] [message=<msg>]`` — writes a file, runs
  ``git add -A && git commit -m <msg>`` via bash, then reports.
* ``fail [status=400] [message=<text>]`` — answers an OpenAI-style error. 400 is
  surfaced by OpenCode at once; 429/5xx (or messages mentioning rate limits,
  "internal error", "try again"...) make OpenCode retry with back-off.
* ``slow [seconds=30] [interval_seconds=0.25]`` — streams ``tick1 tick2 ...``, one
  word per interval, for that long (so a test can stop it mid-turn); stops early
  if the client goes or the server stops.
* ``text [text=<t>]`` — answers the text verbatim (the body when no argument).
* ``pull-request [title=<t>] [body=<text>] [draft=true]`` — calls the sandbox's
  pull-request tool (``openinspect_create_pull_request``; title defaults to
  "Scripted pull request", body to the directive's body), then answers the tool's
  output (the PR's URL, or why there is none).
* ``commit-pull-request [path=CHANGES.md] [content=<text>] [message=<msg>] [title=<t>]
  [body=<text>] [draft=true]`` — ``commit``'s steps, then ``pull-request``'s.
* ``screenshot [url=<u>] [port=<n>] [device=desktop|phone] [full_page=true] [caption=<t>]
  [path=<file> content=<text>]`` — with ``path``, first writes that file (the change to show);
  then calls the sandbox's screenshot tool (``openinspect_browser_screenshot``) and answers
  its output (the saved screenshot's id, or why there is none).
* ``demo`` — ``ls`` the repository, write ``OPENINSPECT_DEMO.md`` quoting the
  prompt, commit it, answer a short markdown summary.
"""

from __future__ import annotations

import shlex

from tests.fakes.script_types import ErrorReply, Reply, Script, ScriptContext, TextReply, ToolCallSpec, ToolReply

SLOW_DEFAULT_SECONDS = 30.0
# What OpenCode calls the sandbox's MCP tool (server "openinspect", tool "create_pull_request").
PULL_REQUEST_TOOL = "openinspect_create_pull_request"
SLOW_DEFAULT_INTERVAL_SECONDS = 0.25
# The sandbox's screenshot tool (server "openinspect_browser", tool "screenshot").
SCREENSHOT_TOOL = "openinspect_browser_screenshot"


def _write_call(ctx: ScriptContext, path: str, content: str) -> ToolCallSpec:
    return ToolCallSpec("write", {"filePath": ctx.path(path), "content": content})


def _bash_call(command: str) -> ToolCallSpec:
    # OpenCode 1.18's bash tool takes command/timeout/workdir (no description).
    return ToolCallSpec("bash", {"command": command})


def write_file_script(ctx: ScriptContext) -> Reply:
    path = ctx.args.get("path", "hello.txt")
    content = ctx.args.get("content", ctx.body or "hello\n")
    if ctx.step == 0:
        return ToolReply((_write_call(ctx, path, content),))
    return TextReply(f"Wrote `{path}`.")


def bash_script(ctx: ScriptContext) -> Reply:
    command = ctx.args.get("command") or " ".join(ctx.positional) or "true"
    if ctx.step == 0:
        return ToolReply((_bash_call(command),))
    return TextReply(f"Ran `{command}`:\n\n```\n{ctx.last_tool_output.strip()}\n```\n")


def commit_script(ctx: ScriptContext) -> Reply:
    path = ctx.args.get("path", "CHANGES.md")
    message = ctx.args.get("message", f"Update {path}")
    match ctx.step:
        case 0:
            content = ctx.args.get("content", ctx.body or f"{message}\n")
            return ToolReply((_write_call(ctx, path, content),))
        case 1:
            command = f"git add -A && git commit -m {shlex.quote(message)}"
            return ToolReply((_bash_call(command),))
        case _:
            return TextReply(f"Committed `{path}`: {message}\n\n```\n{ctx.last_tool_output.strip()}\n```\n")


def _pull_request_call(ctx: ScriptContext) -> ToolCallSpec:
    arguments: dict[str, object] = {
        "title": ctx.args.get("title", "Scripted pull request"),
        "body": ctx.args.get("body", ctx.body or "Opened by the scripted model."),
    }
    if ctx.args.get("draft", "").lower() in ("1", "true", "yes"):
        arguments["draft"] = True
    return ToolCallSpec(PULL_REQUEST_TOOL, arguments)


def pull_request_script(ctx: ScriptContext) -> Reply:
    if ctx.step == 0:
        return ToolReply((_pull_request_call(ctx),))
    return TextReply(f"Pull request tool said: {ctx.last_tool_output.strip()}")


def commit_pull_request_script(ctx: ScriptContext) -> Reply:
    if ctx.step < 2:
        return commit_script(ctx)
    if ctx.step == 2:
        return ToolReply((_pull_request_call(ctx),))
    return TextReply(f"Committed and asked for a pull request: {ctx.last_tool_output.strip()}")


def _screenshot_call(ctx: ScriptContext) -> ToolCallSpec:
    arguments: dict[str, object] = {k: ctx.args[k] for k in ("url", "device", "caption") if k in ctx.args}
    if "port" in ctx.args:
        arguments["port"] = int(ctx.args["port"])
    if ctx.args.get("full_page", "").lower() in ("1", "true", "yes"):
        arguments["full_page"] = True
    return ToolCallSpec(SCREENSHOT_TOOL, arguments)


def screenshot_script(ctx: ScriptContext) -> Reply:
    steps = [] if "path" not in ctx.args else [ToolReply((_write_call(ctx, ctx.args["path"],
                                                                      ctx.args.get("content", ctx.body)),))]
    steps.append(ToolReply((_screenshot_call(ctx),)))
    if ctx.step < len(steps):
        return steps[ctx.step]
    return TextReply(f"Screenshot tool said: {ctx.last_tool_output.strip()}")


def fail_script(ctx: ScriptContext) -> Reply:
    status = int(ctx.args.get("status", "400"))
    message = ctx.args.get("message", "Scripted failure: this request was refused by the provider.")
    return ErrorReply(
        status,
        {"message": message, "type": "invalid_request_error", "param": None, "code": "scripted_failure"},
    )


def slow_script(ctx: ScriptContext) -> Reply:
    seconds = float(ctx.args.get("seconds", SLOW_DEFAULT_SECONDS))
    interval = float(ctx.args.get("interval_seconds", SLOW_DEFAULT_INTERVAL_SECONDS))
    if ctx.step > 0:
        return TextReply("Done.")
    ticks = max(1, round(seconds / interval))
    # One word group per chunk: each tick is a separate, delayed chunk.
    text = " ".join(f"tick{n}" for n in range(1, ticks + 1))
    return TextReply(text, chunk_delay_seconds=interval)


def text_script(ctx: ScriptContext) -> Reply:
    return TextReply(ctx.args.get("text", ctx.body))


def demo_script(ctx: ScriptContext) -> Reply:
    path = "OPENINSPECT_DEMO.md"
    prompt = ctx.prompt or "(empty prompt)"
    match ctx.step:
        case 0:
            return ToolReply((_bash_call("ls -la"),), text="Let me look around.")
        case 1:
            content = (
                "# OpenInspect demo\n\n"
                f"This file was written by the scripted demo model for the prompt:\n\n> {prompt}\n"
            )
            return ToolReply((_write_call(ctx, path, content),))
        case 2:
            command = f"git add {path} && git commit -m {shlex.quote('Add OpenInspect demo file')}"
            return ToolReply((_bash_call(command),))
        case _:
            return TextReply(
                "## Summary\n\n"
                f"- Listed the repository.\n- Wrote `{path}` quoting your prompt.\n"
                f"- Committed it:\n\n```\n{ctx.last_tool_output.strip()}\n```\n\n"
                "This answer came from the scripted demo model; configure a real provider for real work.\n"
            )


BUILTIN_SCRIPTS: dict[str, Script] = {
    "write-file": write_file_script,
    "bash": bash_script,
    "commit": commit_script,
    "fail": fail_script,
    "slow": slow_script,
    "text": text_script,
    "demo": demo_script,
    "pull-request": pull_request_script,
    "commit-pull-request": commit_pull_request_script,
    "screenshot": screenshot_script,
}
