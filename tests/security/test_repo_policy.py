"""Which repositories a session may name: each URL an attacker tried (issue 8) is refused, with a code.

A machine as the README runs it: the roots are the home directory (``~``), the data
directory is a project's ``.data`` inside it, holding every session's workspace.
Names resolve through a fake resolver (the tests have no DNS).
"""

from __future__ import annotations

import ipaddress
import os
from dataclasses import dataclass, replace
from pathlib import Path

import pytest
from sqlmodel import func, select

from openinspect_core.db import Database
from openinspect_core.models import Repo
from openinspect_core.services import repo_policy, sessions, users
from openinspect_core.services.errors import InvalidInput
from openinspect_core.services.repo_policy import RepoPolicy
from openinspect_core.settings import Settings
from tests.fakes.dns import PUBLIC_ADDRESS, FakeDns

OTHER_SESSION = "0123456789abcdef0123456789abcdef"
TOKEN = "ghp_abcdefghijklmnopqrstuvwxyz0123456789"
DNS = FakeDns({
    "github.com": [PUBLIC_ADDRESS],
    "metadata.google.internal": ["169.254.169.254"],
    "git.internal": ["10.1.2.3"],
    "rebound.example": [PUBLIC_ADDRESS, "127.0.0.1"],
    "v6.example": ["::ffff:169.254.169.254"],
})


@dataclass(frozen=True)
class Machine:
    home: Path
    data_dir: Path
    policy: RepoPolicy

    def url(self, template: str) -> str:
        return template.format(home=self.home, data=self.data_dir)


@pytest.fixture
def machine(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Machine:
    home = tmp_path / "home" / "ada"
    project = home / "openinspect"
    data_dir = project / ".data"
    (home / "code" / "app").mkdir(parents=True)
    (data_dir / "workspaces" / OTHER_SESSION / "repo" / ".openinspect").mkdir(parents=True)
    (home / "etc-link").symlink_to("/etc")
    (home / "data-link").symlink_to(data_dir / "workspaces" / OTHER_SESSION / "repo")
    (home / "app-link").symlink_to(home / "code" / "app")
    (home / "loop").symlink_to(home / "loop")
    monkeypatch.setenv("HOME", str(home))
    settings = Settings.from_env({}, data_dir=data_dir, repo_hosts=("github.com", "GitHub.com.", "169.254.169.254",
                                                                    "127.0.0.1", "[::1]", "metadata.google.internal",
                                                                    "git.internal", "rebound.example", "v6.example",
                                                                    "fe80::1", "unknown.example", "100.100.100.200"))
    return Machine(home, data_dir, RepoPolicy.from_settings(settings, resolve=DNS))


REFUSED = [
    # what issue 8 found accepted
    ("~", "repo_path_not_allowed"),  # the root itself: only what is inside it
    ("/etc", "repo_path_not_allowed"),
    ("file:///etc/passwd", "repo_path_not_allowed"),
    ("{data}", "repo_path_forbidden"),
    ("{data}/workspaces/" + OTHER_SESSION + "/repo", "repo_path_forbidden"),
    ("file://{data}/workspaces/" + OTHER_SESSION + "/repo", "repo_path_forbidden"),
    ("{data}/openinspect.db", "repo_path_forbidden"),
    ("{home}/openinspect", "repo_path_forbidden"),  # it contains the data directory
    ("http://169.254.169.254/latest/meta-data/", "repo_address_forbidden"),
    ("https://x:" + TOKEN + "@github.com/acme/app.git", "repo_url_credentials"),
    # the same, dressed up
    ("~/../../..", "repo_path_not_allowed"),
    ("~/code/../../../../etc", "repo_path_not_allowed"),
    ("{home}/etc-link", "repo_path_not_allowed"),  # a symlink is followed before the check
    ("{home}/data-link", "repo_path_forbidden"),
    ("{home}/loop", "repo_path_not_allowed"),
    ("~root/code", "repo_path_not_allowed"),  # another user's home
    ("~no-such-user-here/code", "repo_path_not_allowed"),
    ("../../../etc", "repo_path_not_allowed"),  # relative to the server's directory, which is no root
    ("file://localhost/etc/shadow", "repo_path_not_allowed"),
    ("file:///%65tc/passwd", "repo_path_not_allowed"),  # percent-encoded /etc
    ("file://evil.example/share/repo", "invalid_repo_url"),
    ("file://{home}/code/app?x=1", "invalid_repo_url"),
    ("http://metadata.google.internal/computeMetadata/v1/", "repo_address_forbidden"),
    ("http://[fe80::1]/repo", "repo_address_forbidden"),
    ("http://100.100.100.200/latest", "repo_address_forbidden"),
    ("http://v6.example/repo", "repo_address_forbidden"),  # IPv4-mapped metadata address
    ("http://127.0.0.1/repo.git", "repo_address_private"),
    ("http://[::1]/repo.git", "repo_address_private"),
    ("https://git.internal/acme/app.git", "repo_address_private"),
    ("https://rebound.example/acme/app.git", "repo_address_private"),  # every address must be public
    ("https://unknown.example/acme/app.git", "repo_host_unresolvable"),
    ("https://gitlab.com/acme/app.git", "repo_host_not_allowed"),
    ("https://github.com.evil.example/acme/app.git", "repo_host_not_allowed"),
    ("https://github.com@evil.example/acme/app.git", "repo_url_credentials"),
    ("https://" + TOKEN + "@github.com/acme/app.git", "repo_url_credentials"),
    ("https://@github.com/acme/app.git", "repo_url_credentials"),
    ("https://github.com/acme/app.git?access_token=" + TOKEN, "invalid_repo_url"),
    ("https://github.com/acme/app.git#main", "invalid_repo_url"),
    ("https://github.com:notaport/acme/app.git", "invalid_repo_url"),
    ("https://", "invalid_repo_url"),
    ("ftp://github.com/acme/app.git", "invalid_repo_url"),
    ("ssh://git@github.com/acme/app.git", "invalid_repo_url"),
    ("git@github.com:acme/app.git", "invalid_repo_url"),
    ("app", "invalid_repo_url"),
    ("", "invalid_repo_url"),
    ("   ", "invalid_repo_url"),
    ("~/code/app\x00", "invalid_repo_url"),
    ("https://github.com/acme/app\n.git", "invalid_repo_url"),
    ("https://github.com/" + "a" * 2000, "repo_url_too_long"),
]


@pytest.mark.parametrize(("template", "code"), REFUSED, ids=[r[0][:60] or "empty" for r in REFUSED])
async def test_a_repository_the_policy_does_not_allow_is_refused(machine: Machine, template: str, code: str) -> None:
    url = machine.url(template)
    with pytest.raises(InvalidInput) as refused:
        await repo_policy.admit(url, machine.policy)
    assert (refused.value.status_code, refused.value.code) == (422, code), refused.value.message
    assert url.strip() == "" or url.strip() not in refused.value.message  # no refusal echoes the URL
    assert TOKEN not in refused.value.message


ACCEPTED = [
    ("https://github.com/acme/app.git/", "https://github.com/acme/app.git"),
    ("  HTTPS://GitHub.com/acme/App  ", "https://github.com/acme/App"),
    ("https://github.com:443/acme/app", "https://github.com:443/acme/app"),
    ("~/code/app", "{home}/code/app"),
    ("~/code/../code/./app/", "{home}/code/app"),
    ("{home}/app-link", "{home}/code/app"),  # stored as where the link points (it cannot be re-pointed)
    ("~/not-cloned-yet", "{home}/not-cloned-yet"),  # the sandbox says so if it is not there
    ("file://{home}/code/app", "file://{home}/code/app"),
    ("file://localhost{home}/app-link", "file://{home}/code/app"),
]


@pytest.mark.parametrize(("template", "stored"), ACCEPTED, ids=[a[0].strip()[:60] for a in ACCEPTED])
async def test_an_allowed_repository_is_accepted_in_its_normal_form(machine: Machine, template: str,
                                                                   stored: str) -> None:
    assert await repo_policy.admit(machine.url(template), machine.policy) == machine.url(stored)


async def test_private_networks_are_allowed_only_when_configured_and_metadata_never(machine: Machine) -> None:
    allowing = replace(machine.policy, allow_private_networks=True)
    assert await repo_policy.admit("http://127.0.0.1/repo.git", allowing) == "http://127.0.0.1/repo.git"
    assert await repo_policy.admit("https://git.internal/a/b", allowing) == "https://git.internal/a/b"
    assert await repo_policy.admit("http://[::1]:8080/r", allowing) == "http://[::1]:8080/r"
    for never in ("http://169.254.169.254/latest", "http://metadata.google.internal/x", "http://[fe80::1]/r",
                  "http://v6.example/r"):
        with pytest.raises(InvalidInput) as refused:
            await repo_policy.admit(never, allowing)
        assert refused.value.code == "repo_address_forbidden"


def test_the_defaults_are_the_home_directory_and_github(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HOME", str(tmp_path))
    settings = Settings.from_env({"OPENINSPECT_DATA_DIR": str(tmp_path / "data")})
    policy = RepoPolicy.from_settings(settings)
    assert (policy.hosts, policy.roots, policy.forbidden, policy.allow_private_networks) == (
        ("github.com",), (tmp_path.resolve(),), ((tmp_path / "data").resolve(),), False)
    assert os.path.expanduser("~") == str(tmp_path)


@pytest.mark.parametrize(
    ("address", "kind"),
    [("140.82.112.3", "public"), ("2606:4700::1111", "public"), ("10.0.0.1", "private"), ("192.168.1.1", "private"),
     ("172.16.0.1", "private"), ("127.0.0.1", "private"), ("0.0.0.0", "private"), ("100.64.0.1", "private"),
     ("::1", "private"), ("fc00::1", "private"), ("::", "private"), ("192.0.2.1", "private"),
     ("169.254.169.254", "never"), ("169.254.0.1", "never"), ("fe80::1", "never"), ("fd00:ec2::254", "never"),
     ("100.100.100.200", "never"), ("224.0.0.1", "never"), ("255.255.255.255", "never"),
     ("::ffff:127.0.0.1", "private"), ("::ffff:169.254.169.254", "never"), ("2002:a9fe:a9fe::", "never"),
     ("64:ff9b::a9fe:a9fe", "never"), ("64:ff9b::8c52:7003", "public")],
)
def test_addresses_are_classified_by_what_they_reach(address: str, kind: str) -> None:
    assert repo_policy.address_class(ipaddress.ip_address(address)) == kind


async def test_a_url_with_credentials_is_neither_stored_nor_echoed(database: Database, machine: Machine) -> None:
    policy = sessions.SessionPolicy(machine.policy, max_active_sessions_per_user=10)
    async with database.session() as db:
        ada = await users.get_or_create(db, "Ada", "ada@example.com")
        with pytest.raises(InvalidInput) as refused:
            await sessions.create(db, repo_url=f"https://x:{TOKEN}@github.com/acme/app.git", creator=ada,
                                  policy=policy)
        await db.commit()
    assert refused.value.code == "repo_url_credentials" and "secrets" in refused.value.message
    assert TOKEN not in str(refused.value)
    async with database.session() as db:
        assert (await db.exec(select(func.count()).select_from(Repo))).one() == 0
