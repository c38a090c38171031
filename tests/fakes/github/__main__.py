"""Run the fake GitHub on its own, for a manual demo or another process.

    python -m tests.fakes.github [--host 127.0.0.1] [--port 8790] [--data-dir DIR]
                                 [--seed seed.json] [--state-file state.json]

Owns the command line, the seed format and the state file. The seed (JSON) says
what exists; without one a small demo world is made (App ``openinspect-dev``, user
``ada`` in organization ``acme``, private repository ``acme/widgets`` with ``main``
and ``dev``, the App installed on ``acme``)::

    {"apps": [{"slug": "...", "client_id": "...", "client_secret": "...", "webhook_secret": "...",
               "callback_urls": ["http://127.0.0.1:3000/auth/github/callback"]}],
     "users": [{"login": "ada", "name": "Ada Lovelace", "email": "ada@example.com", "orgs": ["acme"]}],
     "repos": [{"owner": "acme", "name": "widgets", "files": {"README.md": "hi\\n"}, "branches": ["main"]}],
     "installations": [{"app": "<slug>", "account": "acme", "repos": ["acme/widgets"]}]}

The state file (written once the server listens; mode 0600, it holds private keys)
gives what a client needs: the URLs, each App's id, client id and secret, webhook
secret and private key, the installations and the repositories' clone URLs.
Stops on Ctrl-C or SIGTERM.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import tempfile
import threading
from pathlib import Path
from typing import Any

from .fake import FakeGitHub
from .server import serve_fake_github

DEMO_SEED: dict[str, Any] = {
    "apps": [{"slug": "openinspect-dev"}],
    "users": [{"login": "ada", "name": "Ada Lovelace", "email": "ada@example.com", "orgs": ["acme"]}],
    "repos": [{"owner": "acme", "name": "widgets", "files": {"README.md": "# widgets\n"},
               "branches": ["main", "dev"], "description": "Demo repository of the fake GitHub"}],
    "installations": [{"app": "openinspect-dev", "account": "acme"}],
}


def apply_seed(gh: FakeGitHub, seed: dict[str, Any]) -> None:
    apps = {}
    for spec in seed.get("apps", []):
        app = gh.add_app(**spec)
        apps[app.slug] = app
    for spec in seed.get("users", []):
        gh.add_user(**spec)
    for spec in seed.get("repos", []):
        spec = dict(spec)
        gh.add_repo(spec.pop("owner"), spec.pop("name"), **spec)
    for spec in seed.get("installations", []):
        spec = dict(spec)
        gh.add_installation(apps[spec.pop("app")], **spec)


def summary(gh: FakeGitHub) -> dict[str, Any]:
    """What a client of this fake needs to know, as JSON-ready data."""
    world = gh.world
    with world.lock:
        return {
            "base_url": gh.base_url,
            "api_url": gh.api_url,
            "apps": [{"id": a.id, "slug": a.slug, "client_id": a.client_id, "client_secret": a.client_secret,
                      "webhook_secret": a.webhook_secret, "private_key_pem": a.private_key_pem}
                     for a in world.apps.values()],
            "installations": [{"id": i.id, "app_id": i.app.id, "account": i.account.login,
                               "repositories": [r.full_name for r in world.installation_repos(i)]}
                              for i in world.installations.values()],
            "users": [a.login for a in world.accounts.values() if a.type == "User"],
            "repos": [{"full_name": r.full_name, "clone_url": r.clone_url, "private": r.private}
                      for r in world.repos.values()],
        }


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m tests.fakes.github", description=__doc__.split("\n")[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--data-dir", type=Path, default=None, help="where the bare repositories go")
    parser.add_argument("--seed", type=Path, default=None, help="JSON world to create (default: a demo world)")
    parser.add_argument("--state-file", type=Path, default=None, help="write URLs and credentials here")
    args = parser.parse_args(argv)
    seed = json.loads(args.seed.read_text()) if args.seed else DEMO_SEED
    with tempfile.TemporaryDirectory(prefix="fake-github-") as tmp:
        data_dir = args.data_dir or Path(tmp)
        with serve_fake_github(data_dir, host=args.host, port=args.port) as gh:
            apply_seed(gh, seed)
            state = json.dumps(summary(gh), indent=2)
            if args.state_file:
                fd = os.open(args.state_file, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
                with os.fdopen(fd, "w") as out:
                    out.write(state + "\n")
            print(f"fake GitHub: web {gh.base_url}  api {gh.api_url}", flush=True)
            for repo in summary(gh)["repos"]:
                print(f"  {repo['full_name']}: {repo['clone_url']}", flush=True)
            stop = threading.Event()
            signal.signal(signal.SIGTERM, lambda *_: stop.set())
            try:
                while not stop.wait(0.5):
                    pass
            except KeyboardInterrupt:
                pass


if __name__ == "__main__":
    main()
