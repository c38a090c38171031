"""Live previews: a sandbox's declared dev servers, proxied under the session's URL (docs/previews.md)."""
