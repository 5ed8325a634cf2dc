"""The ``ttc`` command: ``ttc demo`` (the main job), ``ttc serve`` (the embedded model server) and
``ttc bench`` (methods side by side, with 95% intervals).

Examples:
    ttc demo                                   # starts the embedded model, runs the tour
    ttc demo --base-url http://localhost:11434/v1 --model llama3.2   # any OpenAI-compatible server
    ttc serve --port 8765                      # serve the embedded model until Ctrl-C
    ttc bench --items 30 --methods greedy,sc@8 # accuracy and tokens per method (ttc bench --help)
"""

from __future__ import annotations

import argparse
import importlib.metadata
import logging
import signal
import sys
import time

from ttc_plugins.bench.command import add_bench_parser, run_bench_command
from ttc_plugins.local import DEFAULT_MODEL, LocalModelError, local_server


def _interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt


def _serve(port: int | None) -> int:
    # Stop cleanly on Ctrl-C and on SIGTERM (docker stop, CI), also when started from a script whose
    # shell ran it in the background with SIGINT ignored, a disposition Python would otherwise keep.
    for stop_signal in (signal.SIGINT, signal.SIGTERM):
        signal.signal(stop_signal, _interrupt)
    with local_server(port=port) as base_url:
        print(f"serving {DEFAULT_MODEL!r} at {base_url} (loopback only); Ctrl-C to stop", flush=True)
        print(f"  export TTC_BASE_URL={base_url} TTC_MODEL={DEFAULT_MODEL}", flush=True)
        try:
            while True:
                time.sleep(3600)
        except KeyboardInterrupt:
            print("stopping", flush=True)
    return 0


def _version() -> str:
    try:
        return importlib.metadata.version("ttc-plugins")
    except importlib.metadata.PackageNotFoundError:  # run from a checkout that was never installed
        return "unknown (not installed)"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="ttc", description="Test-time compute strategies under one token budget.")
    parser.add_argument("--version", action="version", version=f"ttc-plugins {_version()}")
    commands = parser.add_subparsers(dest="command", required=True)
    demo = commands.add_parser("demo", help="plain answers vs self-consistency on a real model, with a budget")
    demo.add_argument(
        "--base-url", help="an OpenAI-compatible endpoint (default: $TTC_BASE_URL, else start the embedded model)"
    )
    demo.add_argument("--model", help="the model name at that endpoint (default: $TTC_MODEL, else smollm2-135m)")
    demo.add_argument("--questions", type=int, default=5, help="how many of the 5 questions to ask")
    demo.add_argument("--samples", type=int, default=8, help="self-consistency samples per question")
    serve = commands.add_parser("serve", help="run the embedded model's OpenAI-compatible server until Ctrl-C")
    serve.add_argument("--port", type=int, default=None, help="loopback port (default: a free one)")
    bench = add_bench_parser(commands)
    args = parser.parse_args(argv)
    # The library logs its progress ("starting the embedded model ..."); the command line shows it.
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    try:
        if args.command == "serve":
            return _serve(args.port)
        if args.command == "bench":
            return run_bench_command(args, bench.error)
        from ttc_plugins.demo import run_demo

        if args.questions < 1 or args.samples < 1:
            parser.error("--questions and --samples must be at least 1")
        return run_demo(base_url=args.base_url, model=args.model, questions=args.questions, samples=args.samples)
    except LocalModelError as error:
        print(f"ttc: {error}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
