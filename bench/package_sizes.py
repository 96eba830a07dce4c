"""Unzipped size of every function as Lambda loads it (its code plus its layers), from `sam build`.

Run as ``python bench/package_sizes.py [--no-build]``. It prints and never asserts. Lambda's limit
is 250 MB unzipped for a function and all its layers together; the Lambda runtime's own boto3
is not counted (it is not in the package).
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

LIMIT_MB = 250


def tree_mb(path: Path) -> float:
    return sum(f.stat().st_size for f in path.rglob("*") if f.is_file()) / 1e6


class _Loader(yaml.SafeLoader):
    pass


_Loader.add_multi_constructor("!", lambda loader, suffix, node: None)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--no-build", action="store_true", help="measure the existing .aws-sam/build")
    args = parser.parse_args()
    print_header()
    if not args.no_build:
        start = time.perf_counter()
        env = {**os.environ, "SAM_CLI_TELEMETRY": "0"}
        sam = shutil.which("sam", path=f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}")
        subprocess.run([sam or "sam", "build"], cwd=REPO, check=True, capture_output=True, env=env)
        print(f"sam build (no container): {time.perf_counter() - start:.0f} s")
    build = REPO / ".aws-sam" / "build"
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
    print(f"\n{'function':<28} {'code MB':>8} {'+ layers MB':>12} {'total MB':>9} {'of 250':>7}  layers")
    for name, code, layers, total in sorted(rows, key=lambda r: -r[3]):
        print(
            f"{name:<28} {code:>8.2f} {total - code:>12.1f} {total:>9.1f} {100 * total / LIMIT_MB:>6.0f}%  "
            f"{', '.join(layers)}"
        )
    print("\nlayers: " + ", ".join(f"{n} {mb:.1f} MB" for n, mb in sorted(layer_mb.items(), key=lambda x: -x[1])))


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
