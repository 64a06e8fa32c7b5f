"""Runnable examples: one small library API, guarded by gqlguard under four servers."""
