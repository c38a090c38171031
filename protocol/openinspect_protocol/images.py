"""What kind of image some bytes are, told by the bytes themselves (never by a name or a header).

Pure and standard-library only, so both ends use the same rule: the sandbox checks a
screenshot before it uploads it (a clear error for the agent at once), and the control
plane checks every upload again before it stores anything (the sandbox is not trusted).

Only the three formats a browser shows and a screenshot comes in are accepted: PNG, JPEG
and WebP. Their width and height are read from the header too, so the timeline can lay a
thumbnail out before it has loaded (no row moves when the image arrives).
"""

from __future__ import annotations

import struct
from dataclasses import dataclass

PNG, JPEG, WEBP = "image/png", "image/jpeg", "image/webp"
IMAGE_CONTENT_TYPES = (PNG, JPEG, WEBP)
EXTENSIONS = {PNG: "png", JPEG: "jpg", WEBP: "webp"}
# Why: a screenshot wider or taller than this is no screenshot (and would only hurt a browser).
MAX_DIMENSION = 65_535

_PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
_JPEG_SOF = frozenset({0xC0, 0xC1, 0xC2, 0xC3, 0xC5, 0xC6, 0xC7, 0xC9, 0xCA, 0xCB, 0xCD, 0xCE, 0xCF})


class NotAnImage(ValueError):
    """The bytes are not a PNG, JPEG or WebP image; the message says what was found."""


@dataclass(frozen=True)
class ImageInfo:
    content_type: str
    width: int
    height: int

    @property
    def extension(self) -> str:
        return EXTENSIONS[self.content_type]


def sniff(data: bytes) -> ImageInfo:
    """The image ``data`` holds, by its magic number and header; :class:`NotAnImage` if none."""
    if data.startswith(_PNG_SIGNATURE):
        info = _png(data)
    elif data.startswith(b"\xff\xd8\xff"):
        info = _jpeg(data)
    elif data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        info = _webp(data)
    else:
        raise NotAnImage(f"not a PNG, JPEG or WebP image (it starts with {data[:8]!r})")
    if not (0 < info.width <= MAX_DIMENSION and 0 < info.height <= MAX_DIMENSION):
        raise NotAnImage(f"{info.content_type} of {info.width}x{info.height} pixels is not a usable image")
    return info


def _png(data: bytes) -> ImageInfo:
    # The first chunk must be IHDR: length 13, then width and height (big-endian).
    if len(data) < 24 or data[12:16] != b"IHDR":
        raise NotAnImage("a PNG signature without an IHDR header")
    width, height = struct.unpack(">II", data[16:24])
    return ImageInfo(PNG, width, height)


def _jpeg(data: bytes) -> ImageInfo:
    # Walk the segments to the first start-of-frame marker, which holds the size.
    position = 2
    while position + 4 <= len(data):
        if data[position] != 0xFF:
            raise NotAnImage("a JPEG whose segments are broken")
        marker = data[position + 1]
        if marker == 0xFF:  # padding
            position += 1
            continue
        if marker in (0xD8, 0x01) or 0xD0 <= marker <= 0xD7:  # markers without a length
            position += 2
            continue
        (length,) = struct.unpack(">H", data[position + 2:position + 4])
        if marker in _JPEG_SOF:
            if position + 9 > len(data):
                break
            height, width = struct.unpack(">HH", data[position + 5:position + 9])
            return ImageInfo(JPEG, width, height)
        if length < 2:
            raise NotAnImage("a JPEG whose segments are broken")
        position += 2 + length
    raise NotAnImage("a JPEG without a frame header")


def _webp(data: bytes) -> ImageInfo:
    chunk = data[12:16]
    if chunk == b"VP8 " and len(data) >= 30 and data[23:26] == b"\x9d\x01\x2a":
        width, height = struct.unpack("<HH", data[26:30])
        return ImageInfo(WEBP, width & 0x3FFF, height & 0x3FFF)
    if chunk == b"VP8L" and len(data) >= 25 and data[20] == 0x2F:
        (bits,) = struct.unpack("<I", data[21:25])
        return ImageInfo(WEBP, (bits & 0x3FFF) + 1, ((bits >> 14) & 0x3FFF) + 1)
    if chunk == b"VP8X" and len(data) >= 30:
        width = int.from_bytes(data[24:27], "little") + 1
        height = int.from_bytes(data[27:30], "little") + 1
        return ImageInfo(WEBP, width, height)
    raise NotAnImage("a WebP container without a VP8, VP8L or VP8X image")
