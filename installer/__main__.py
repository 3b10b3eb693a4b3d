"""`python -m installer keygen | build | llama-wheel`: the connected (publisher's) side."""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

from installer.llama_wheel import BASELINES, DEFAULT_BASELINE


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m installer", description="Build offline install bundles.")
    commands = parser.add_subparsers(dest="command", required=True)
    keygen = commands.add_parser("keygen", help="write an Ed25519 publisher key pair, print its fingerprint")
    keygen.add_argument("--out", type=Path, required=True, help="directory for publisher.key (0600) and publisher.pub")
    build = commands.add_parser("build", help="build, sign and tar a bundle")
    build.add_argument("--key", type=Path, required=True, help="keygen directory or publisher.key")
    build.add_argument("--out", type=Path, required=True, help="directory to write appliance-<version>[.tar] into")
    build.add_argument("--model", action="append", default=[], metavar="ID=PATH", help="an extra GGUF model to carry")
    build.add_argument("--cpu-baseline", choices=sorted(BASELINES), default=DEFAULT_BASELINE,
                       help="CPU level llama.cpp is built for (never the build machine's own)")
    wheel = commands.add_parser("llama-wheel", help="print the cached llama-cpp-python wheel, building it if missing")
    wheel.add_argument("--cpu-baseline", choices=sorted(BASELINES), default=DEFAULT_BASELINE)
    return parser.parse_args(argv)


def run_build(args: argparse.Namespace) -> None:
    from installer.build import build
    from installer.models import parse_model_option

    result = build(args.key, args.out, [parse_model_option(value) for value in args.model], args.cpu_baseline)
    print(f"bundle {result.directory}")
    for part, size in sorted(result.sizes.items()):
        print(f"  {part:12s} {size / 1e6:10.1f} MB")
    print(f"tarball {result.tarball}")
    print(f"publisher key fingerprint: {result.fingerprint}")
    print(f"MANIFEST sha256: {result.manifest_sha256}")


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    try:
        if args.command == "keygen":
            from installer.keys import keygen

            print(keygen(args.out))
        elif args.command == "build":
            run_build(args)
        else:
            from installer.llama_wheel import ensure_wheel

            print(ensure_wheel(args.cpu_baseline))
    except (OSError, ValueError, RuntimeError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
