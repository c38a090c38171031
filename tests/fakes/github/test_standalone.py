"""``python -m tests.fakes.github`` as another process would use it: state file, REST, git."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx

from tests.fakes.github.app_jwt import make_app_jwt
from tests.fakes.github.git_client import run_git
from tests.fakes.github.schemas import REPO_ROOT


def test_standalone_server_writes_its_state_and_serves(tmp_path: Path) -> None:
    state_file = tmp_path / "state.json"
    process = subprocess.Popen([sys.executable, "-m", "tests.fakes.github", "--port", "0", "--state-file",
                                str(state_file), "--data-dir", str(tmp_path / "data")], cwd=REPO_ROOT,
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 30
        while not state_file.exists() or not state_file.read_text().endswith("\n"):
            assert process.poll() is None, process.communicate()
            assert time.monotonic() < deadline, "the fake did not start"
            time.sleep(0.05)
        assert os.stat(state_file).st_mode & 0o777 == 0o600
        state = json.loads(state_file.read_text())
        app, inst = state["apps"][0], state["installations"][0]
        now = int(time.time())
        jwt = make_app_jwt(app["private_key_pem"], app["id"], iat=now - 60, exp=now + 540)
        with httpx.Client(base_url=state["api_url"], trust_env=False) as api:
            answer = api.post(f"/app/installations/{inst['id']}/access_tokens",
                              headers={"Authorization": f"Bearer {jwt}"})
            assert answer.status_code == 201
            token = answer.json()["token"]
        clone_url = state["repos"][0]["clone_url"].replace("http://", f"http://x-access-token:{token}@")
        run_git(tmp_path, "clone", clone_url, "widgets")
        assert (tmp_path / "widgets" / "README.md").read_text() == "# widgets\n"
    finally:
        process.send_signal(signal.SIGTERM)
        out, err = process.communicate(timeout=20)
    assert process.returncode == 0, err
    assert "fake GitHub: web http://127.0.0.1:" in out
