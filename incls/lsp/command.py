"""`incls --stdio | --tcp HOST:PORT [--log-file FILE]`: serve LSP."""

from __future__ import annotations

import argparse
import logging
import sys


def parse(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="incls", description="Serve live document classification over LSP.")
    mode = parser.add_mutually_exclusive_group()
    mode.add_argument("--stdio", action="store_true", help="talk LSP on stdin/stdout (the default)")
    mode.add_argument("--tcp", metavar="HOST:PORT", help="listen for one LSP client on a TCP port")
    parser.add_argument(
        "--log-file", metavar="FILE", help="write the server's log here (default: stderr, warnings only)"
    )
    parser.add_argument("--log-level", default=None, choices=["debug", "info", "warning", "error"])
    return parser.parse_args(argv)


def main(argv: list[str]) -> int:
    args = parse(argv)
    level = getattr(logging, (args.log_level or ("info" if args.log_file else "warning")).upper())
    handler = (
        logging.FileHandler(args.log_file, encoding="utf-8") if args.log_file else logging.StreamHandler(sys.stderr)
    )
    logging.basicConfig(level=level, handlers=[handler], format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    from .handlers import build_server

    # The model thread runs pure-Python work too (the Markdown projection of a long block):
    # hand the interpreter over every 0.5 ms rather than 5, so the thread that reads
    # messages answers a hover within a few switches of it.
    sys.setswitchinterval(0.0005)
    server = build_server()
    if args.tcp:
        host, _, port = args.tcp.rpartition(":")
        if not port.isdigit():
            print(f"incls: --tcp expects HOST:PORT, got {args.tcp!r}", file=sys.stderr)
            return 2
        server.start_tcp(host or "127.0.0.1", int(port))
    else:
        server.start_io()
    return 0
