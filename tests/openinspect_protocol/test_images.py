"""An image's type and size are read from its bytes: PNG, JPEG and WebP pass, anything else is refused."""

from __future__ import annotations

import pytest
from openinspect_protocol.images import JPEG, PNG, WEBP, NotAnImage, sniff

from tests.support import images


@pytest.mark.parametrize(("data", "content_type", "size"), [
    (images.png(4, 3), PNG, (4, 3)),
    (images.jpeg_header(640, 480), JPEG, (640, 480)),
    (images.webp_vp8x(800, 600), WEBP, (800, 600)),
    (images.webp_vp8l(17, 9), WEBP, (17, 9)),
])
def test_images_are_known_by_their_bytes(data: bytes, content_type: str, size: tuple[int, int]) -> None:
    info = sniff(data)
    assert (info.content_type, (info.width, info.height)) == (content_type, size)


@pytest.mark.parametrize("data", [
    b"<html><body>not an image</body></html>",
    b"GIF89a\x01\x00\x01\x00",
    b"%PDF-1.7\n",
    b"",
    b"\x89PNG\r\n\x1a\n",  # a signature and nothing after it
    b"\xff\xd8\xff\xe0\x00\x10JFIF",  # a JPEG that ends before its frame header
    b"RIFF\x00\x00\x00\x00WEBPJUNK",
    images.png(0, 3),  # no pixels
])
def test_anything_else_is_refused_saying_what_it_is(data: bytes) -> None:
    with pytest.raises(NotAnImage) as refused:
        sniff(data)
    assert str(refused.value)


def test_the_name_of_a_file_counts_for_nothing() -> None:
    # HTML whose first bytes a careless check might take for an image's are still HTML.
    with pytest.raises(NotAnImage, match="not a PNG, JPEG or WebP"):
        sniff(b"PNG<script>alert(1)</script>")
