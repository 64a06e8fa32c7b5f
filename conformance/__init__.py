"""Acceptance runs of the hosts' own test suites with gqlguard swapped in (make conformance)."""
