"""A screenshot's bytes are served to signed-in people, as an image and nothing else; to nobody else."""

from __future__ import annotations

from openinspect_protocol.artifacts import UploadHeader

from backend_jobs import tokens
from openinspect_core.models import Sandbox
from openinspect_core.services import artifacts
from tests.openinspect_core.services.seed import seed
from tests.support.images import png
from tests.support.system import ServedApi, api_token, sign_in_cookie


async def a_screenshot(served: ServedApi) -> tuple[str, bytes]:
    seeded = await seed(served.context.db)
    image = png(20, 10)
    artifact = await artifacts.save_upload(
        served.context.db, served.context.notifier, served.context.artifacts, session_id=seeded.session_id,
        sandbox_id="sb", header=UploadHeader(size_bytes=len(image)), data=image,
        caps=artifacts.Caps.from_settings(served.settings))
    return artifact.id, image


async def test_a_signed_in_person_gets_the_image_as_an_image(served: ServedApi) -> None:
    artifact_id, image = await a_screenshot(served)
    async with served.client(cookie=await sign_in_cookie(served.context)) as http:
        response = await http.get(f"/api/artifacts/{artifact_id}")
    assert response.status_code == 200 and response.content == image
    assert response.headers["content-type"] == "image/png"
    assert response.headers["x-content-type-options"] == "nosniff"
    assert "sandbox" in response.headers["content-security-policy"]
    assert response.headers["cache-control"].startswith("private")
    async with served.client(token=await api_token(served.context)) as http:  # an API token does too
        assert (await http.get(f"/api/artifacts/{artifact_id}")).content == image


async def test_nobody_else_gets_a_byte(served: ServedApi) -> None:
    artifact_id, image = await a_screenshot(served)
    sandbox_token = tokens.new_token()
    async with served.context.work() as work:  # a live sandbox's token: good for uploads, not here
        session_id = (await seed(served.context.db, repo_url="/tmp/b")).session_id
        work.db.add(Sandbox(session_id=session_id, backend="test", auth_token_hash=tokens.token_hash(sandbox_token)))
    for client in (served.client(), served.client(token=sandbox_token)):
        async with client as http:
            response = await http.get(f"/api/artifacts/{artifact_id}")
        assert response.status_code == 401 and image not in response.content
        assert response.json()["error"]["code"] == "unauthenticated"


async def test_an_unknown_or_vanished_artifact_is_not_found(served: ServedApi) -> None:
    artifact_id, _ = await a_screenshot(served)
    async with served.context.db.session() as db:
        key = (await artifacts.stored_file(db, artifact_id)).storage_key or ""
    await served.context.artifacts.delete(key)
    async with served.client(cookie=await sign_in_cookie(served.context)) as http:
        for path, code in ((f"/api/artifacts/{artifact_id}", "artifact_missing"),
                           ("/api/artifacts/" + "0" * 32, "artifact_not_found"), ("/api/artifacts/..%2F..", None)):
            response = await http.get(path)
            assert response.status_code in (404, 422), path
            if code:
                assert response.json()["error"]["code"] == code
