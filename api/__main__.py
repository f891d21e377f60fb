"""`python -m api`: serve the API with uvicorn on COMPLAINTS_API_HOST:COMPLAINTS_API_PORT (127.0.0.1:8000)."""

from __future__ import annotations

import argparse

import uvicorn

from api.app import create_app
from api.settings import get_api_settings
from common.logs import configure_logging


def main(argv: list[str] | None = None) -> None:
    s = get_api_settings()
    parser = argparse.ArgumentParser(prog="python -m api")
    parser.add_argument("--host", default=s.host)
    parser.add_argument("--port", type=int, default=s.port)
    args = parser.parse_args(argv)
    configure_logging("api")
    # log_config=None: uvicorn's loggers reach the root handler (the project's format) instead of its own
    uvicorn.run(create_app(), host=args.host, port=args.port, log_config=None, access_log=False)


if __name__ == "__main__":
    main()
