"""The state store: journal, release lock, published gate figures and the Cloudflare request
budget, in one database chosen by URL (SQLite under the state directory, or PostgreSQL for a team).
See docs/team-state.md."""
