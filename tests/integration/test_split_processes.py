"""Production topology: the web process without background jobs, a separate worker
process (`python -m backend_jobs`), PostgreSQL between them (LISTEN/NOTIFY)."""

from __future__ import annotations

from pathlib import Path

from tests.fakes.scripted_model import ScriptedModel
from tests.support.split import web_and_worker
from tests.support.system import make_repo


async def test_web_and_worker_in_separate_processes(postgres_url: str, tmp_path: Path,
                                                    scripted_model: ScriptedModel) -> None:
    repo = make_repo(tmp_path / "repo", {"README.md": "x\n"})
    async with web_and_worker(postgres_url, tmp_path, scripted_model) as split:
        s = split.system
        session = await s.create_session(repo)
        message = await s.prompt(session["id"], "#script write-file path=split.txt content=two-processes")
        finished = await s.wait_for_prompt_end(session["id"], message["id"])
        assert finished["data"]["status"] == "completed"
        workspace = split.worker_data_dir / "workspaces" / session["id"] / "repo"
        assert (workspace / "split.txt").read_text().strip() == "two-processes"
    stderr = split.worker_log.read_text()
    assert split.worker_exit_code == 0, stderr[-2000:]
    assert "worker.stopping" in stderr
