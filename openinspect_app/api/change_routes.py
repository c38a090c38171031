"""REST endpoints for a session's changes and its verify gate: thin, like the other routes.

``GET /api/sessions/{id}/changes``: the session's newest changes against its base branch
(kept after its sandbox has ended; ``changes`` is null before a turn reported any), and
the newest verify.sh outcome (null before verify.sh has run). Who may read the session's
events may read these; the caller is resolved by the boundary (``http/authn``).
"""

from __future__ import annotations

import openinspect_protocol as p
from fastapi import APIRouter
from pydantic import BaseModel, Field

from openinspect_app.api.deps import Me, System
from openinspect_app.api.errors import COMMON_ERRORS, error_responses
from openinspect_app.api.routes import SessionId
from openinspect_core.services import changes, sessions

router = APIRouter(responses=error_responses(*COMMON_ERRORS))


class ChangesOut(BaseModel):
    changes: p.ChangesSnapshot | None = Field(
        description="files with their counts and diffs (`omitted` says why one has none: binary, file_cap, "
                    "total_cap); null before a turn reported any")
    verify: p.VerifyFinished | None = Field(description="the newest verify.sh outcome; null before it has run")


@router.get("/sessions/{session_id}/changes", responses=error_responses(404))
async def session_changes(session_id: SessionId, system: System, _: Me) -> ChangesOut:
    """The session's changes against its base branch, as of its newest turn, and its verify gate."""
    async with system.context.db.session() as db:
        await sessions.get(db, session_id)
        return ChangesOut(changes=await changes.read(db, session_id), verify=await changes.last_verify(db, session_id))
