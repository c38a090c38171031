"""The protocol's version: bump it on any incompatible change.

The bridge sends it in the ``X-OpenInspect-Protocol`` header of its handshake and the
control plane refuses a mismatch (426), so an old sandbox image and a new control plane
never misread each other.
"""

PROTOCOL_VERSION = 1
PROTOCOL_HEADER = "X-OpenInspect-Protocol"
