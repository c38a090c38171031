"""The repository's declared dev servers: ``.openinspect/preview.toml``, read once after the clone.

The file (docs/previews.md#live-previews)::

    [[ports]]
    port = 3000          # 1024-65535
    label = "Web app"    # what the "Open preview" button says
    path = "/"           # where the preview opens (optional, default "/")

:func:`read_declaration` turns it into the ``preview_ports`` event the control plane proxies by,
or into a ``warning`` saying what is wrong with it (then nothing is proxied: a half-read
declaration is not guessed at). No file: nothing at all. What the ports mean for the agent
(the URLs it is told) is :func:`openinspect_protocol.previews.preview_urls`.
"""

from __future__ import annotations

import tomllib
from pathlib import Path

import openinspect_protocol as protocol
from openinspect_protocol.previews import DECLARATION_FILE, declaration_from

# Why: a declaration is a few lines; a bigger file is a mistake, and it is read into memory whole.
MAX_DECLARATION_BYTES = 16 * 1024


def read_declaration(repo_dir: Path) -> protocol.PreviewPorts | protocol.WarningEvent | None:
    """The repository's declared ports as an event to send, a warning when the file is wrong, None without one."""
    path = repo_dir / DECLARATION_FILE
    if not path.is_file():
        return None
    try:
        if path.stat().st_size > MAX_DECLARATION_BYTES:
            return _invalid(f"it is larger than {MAX_DECLARATION_BYTES} bytes")
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError) as exc:
        return _invalid(f"it cannot be read: {exc}")
    except tomllib.TOMLDecodeError as exc:
        return _invalid(f"it is not valid TOML: {exc}")
    try:
        declaration = declaration_from(data)
    except protocol.ProtocolError as exc:
        return _invalid(str(exc))
    return protocol.PreviewPorts(ports=declaration.ports)


def _invalid(reason: str) -> protocol.WarningEvent:
    return protocol.WarningEvent(code="preview_declaration_invalid",
                                 message=f"{DECLARATION_FILE} was ignored (no live preview): {reason}")
