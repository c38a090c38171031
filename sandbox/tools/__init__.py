"""Tools the agent calls that reach the sandbox runtime (each runs as its own small process)."""
