"""The demo: a Strawberry schema of a small shop and blog, guarded by gqlguard."""
