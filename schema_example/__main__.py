"""``python -m schema_example``: serve the guarded demo on http://127.0.0.1:8000/graphql."""

from __future__ import annotations

import os
import socket
import sys

import uvicorn

HOST = os.environ.get("HOST", "127.0.0.1")
PORT = int(os.environ.get("PORT", "8000"))
URL = f"http://{HOST}:{PORT}/graphql"

BANNER = f"""
gqlguard demo on {URL}  (Ctrl-C to stop)

An accepted query:
  curl -s {URL} -H 'content-type: application/json' \\
    -d '{{"query":"{{ users(first: 2) {{ edges {{ node {{ name posts(limit: 1) {{ title }} }} }} }} }}"}}'

A rejected attack (11 levels deep: DEPTH_LIMIT_EXCEEDED, no resolver runs):
  curl -s {URL} -H 'content-type: application/json' \\
    -d '{{"query":"{{ posts(limit: 1) {{ author {{ posts(limit: 1) {{ author {{ posts(limit: 1) {{ author {{ posts(limit: 1) {{ author {{ posts(limit: 1) {{ author {{ name }} }} }} }} }} }} }} }} }} }} }}"}}'
"""


def main() -> None:
    from gqlguard.config import ConfigError

    try:  # a configuration mistake is one line, before anything is printed or served
        from .config import demo_config

        demo_config()
    except ConfigError as error:
        print(f"gqlguard demo: {error}", file=sys.stderr)
        raise SystemExit(2) from None
    with socket.socket() as probe:  # a busy port is one line too, before the banner
        try:
            probe.bind((HOST, PORT))
        except OSError as error:
            print(
                f"gqlguard demo: cannot listen on {HOST}:{PORT}: {error.strerror}", file=sys.stderr
            )
            raise SystemExit(2) from None
    print(BANNER, flush=True)
    # proxy_headers=False: uvicorn would otherwise rewrite the peer from X-Forwarded-For
    # (trusting 127.0.0.1) before gqlguard looks; only `trusted_proxies` decides who the client is.
    uvicorn.run(
        "schema_example.app:app", host=HOST, port=PORT, log_level="warning", proxy_headers=False
    )


if __name__ == "__main__":
    main()
