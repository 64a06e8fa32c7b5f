"""``python -m schema_example``: serve the guarded demo on http://127.0.0.1:8000/graphql."""

from __future__ import annotations

import os
import socket
import sys

import uvicorn

HOST = os.environ.get("HOST", "127.0.0.1")
PORT = int(os.environ.get("PORT", "8000"))
URL = f"http://{HOST}:{PORT}/graphql"

BANNER = """
gqlguard demo on {url}  (Ctrl-C to stop)

An accepted query:
  curl -s {url} -H 'content-type: application/json' \\
    -d '{{"query":"{{ users(first: 2) {{ edges {{ node {{ name posts(limit: 1) {{ title }} }} }} }} }}"}}'

{attack}
  curl -s {url} -H 'content-type: application/json' \\
    -d '{{"query":"{{ posts(limit: 1) {{ author {{ posts(limit: 1) {{ author {{ posts(limit: 1) {{ author {{ posts(limit: 1) {{ author {{ posts(limit: 1) {{ author {{ name }} }} }} }} }} }} }} }} }} }} }}"}}'
"""


def main() -> None:
    from gqlguard.config import ConfigError

    try:  # a configuration mistake is one line, before anything is printed or served
        from gqlguard.guard import startup_settings

        from .config import demo_config

        config = demo_config()
        startup_settings(config)  # the manifest's exemptions, the measure log
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
    attack = (
        "An attack over max_depth (measure mode: served, and logged as over the limit):"
        if config.mode == "measure"
        else "A rejected attack (11 levels deep: DEPTH_LIMIT_EXCEEDED, no resolver runs):"
    )
    print(BANNER.format(url=URL, attack=attack), flush=True)
    # proxy_headers=False: uvicorn would otherwise rewrite the peer from X-Forwarded-For
    # (trusting 127.0.0.1) before gqlguard looks; only `trusted_proxies` decides who the client is.
    uvicorn.run(
        "schema_example.app:app", host=HOST, port=PORT, log_level="warning", proxy_headers=False
    )


if __name__ == "__main__":
    main()
