# Environment shared by scripts/run and scripts/test (sourced, not run).
export PATH="$PWD/.venv/bin:$PWD/node_modules/.bin:$PATH"
# Reflex builds its frontend with bun; use the pinned one from npm (Reflex's own download needs the internet).
export REFLEX_USE_SYSTEM_BUN=1
export REFLEX_TELEMETRY_ENABLED=false
export REFLEX_CHECK_LATEST_VERSION=false
export NPM_CONFIG_REGISTRY="${NPM_CONFIG_REGISTRY:-https://registry.npmjs.org}"
