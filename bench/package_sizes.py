"""Unzipped size of every function as Lambda loads it (its code plus its layers), from `sam build`.

Run as ``python bench/package_sizes.py [--arch x86_64|arm64] [--build-dir DIR] [--no-build] [--check]``.
Lambda's limit is 262,144,000 bytes (250 MiB) unzipped for a function and all its layers together;
the Lambda runtime's own boto3 is not counted (it is not in the package). It prints; with
``--check`` (as ``make sizes`` runs it for both architectures) it exits 1 when a function is over.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import yaml
from common import REPO, print_header

LIMIT_BYTES = 262_144_000  # what Lambda's error message gives for "250 MB unzipped"
LIMIT_MB = LIMIT_BYTES / 1e6


def tree_mb(path: Path) -> float:
    return sum(f.stat().st_size for f in path.rglob("*") if f.is_file()) / 1e6


class _Loader(yaml.SafeLoader):
    pass


_Loader.add_multi_constructor("!", lambda loader, suffix, node: None)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--arch", choices=("x86_64", "arm64"), default="x86_64", help="the functions' processor")
    parser.add_argument("--build-dir", type=Path, help="default .aws-sam/build (x86_64), .aws-sam/build-arm64 (arm64)")
    parser.add_argument("--no-build", action="store_true", help="measure what is in the build directory")
    parser.add_argument("--check", action="store_true", help="exit 1 when a function is over Lambda's limit")
    args = parser.parse_args()
    print_header()
    suffix = "" if args.arch == "x86_64" else f"-{args.arch}"
    build = args.build_dir or REPO / ".aws-sam" / f"build{suffix}"
    if not args.no_build:
        start = time.perf_counter()
        path = f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}"
        env = {**os.environ, "SAM_CLI_TELEMETRY": "0", "LAMBDA_ARCH": args.arch, "PATH": path}
        command = [shutil.which("sam", path=path) or "sam", "build", "--build-dir", str(build)]
        command += ["--cache-dir", str(REPO / ".aws-sam" / f"cache{suffix}")]
        command += ["--parameter-overrides", f"Architecture={args.arch}"]
        subprocess.run(command, cwd=REPO, check=True, capture_output=True, env=env)
        print(f"sam build for {args.arch} (no container): {time.perf_counter() - start:.0f} s")
    if not (build / "template.yaml").exists():
        raise SystemExit(f"package_sizes: no build in {build}: run sam build, or drop --no-build")
    template = yaml.load((REPO / "template.yaml").read_text(), Loader=_Loader)  # noqa: S506 - SafeLoader subclass
    resources = template["Resources"]
    layer_mb = {name: tree_mb(build / name) for name, r in resources.items() if r["Type"].endswith("LayerVersion")}
    global_layers = [name for name in layer_mb if name == "TheraLayer"]
    rows = []
    for name, r in resources.items():
        if r["Type"] != "AWS::Serverless::Function":
            continue
        layers = global_layers + [
            ref for ref in layer_mb if f"!Ref {ref}" in _layers_text(name) and ref not in global_layers
        ]
        code = tree_mb(build / name)
        total = code + sum(layer_mb[x] for x in layers)
        rows.append((name, code, layers, total))
    print(f"\n{args.arch}: {build}")
    print(f"{'function':<28} {'code MB':>8} {'+ layers MB':>12} {'total MB':>9} {'of limit':>8}  layers")
    for name, code, layers, total in sorted(rows, key=lambda r: -r[3]):
        print(
            f"{name:<28} {code:>8.2f} {total - code:>12.1f} {total:>9.1f} {100 * total / LIMIT_MB:>7.0f}%  "
            f"{', '.join(layers)}"
        )
    print("\nlayers: " + ", ".join(f"{n} {mb:.1f} MB" for n, mb in sorted(layer_mb.items(), key=lambda x: -x[1])))
    over = [name for name, _, _, total in rows if total > LIMIT_MB]
    if over:
        print(f"over Lambda's {LIMIT_BYTES:,} bytes unzipped ({args.arch}): {', '.join(over)}")
        if args.check:
            sys.exit(1)
    else:
        print(f"every function is under Lambda's {LIMIT_BYTES:,} bytes unzipped ({args.arch})")


def _layers_text(function: str) -> str:
    """The function's resource block in template.yaml (layers are listed there as !Ref)."""
    text = (REPO / "template.yaml").read_text()
    start = text.index(f"\n  {function}:\n")
    end = text.find("\n  ", start + 3)
    while end != -1 and text[end + 3] == " ":
        end = text.find("\n  ", end + 1)
    return text[start:end]


if __name__ == "__main__":
    main()
