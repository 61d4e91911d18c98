"""Image build figures: a first build of the default Debian image into an empty cache, per
stage, with its size on disk against its apparent size; then the same request again (a
cache hit). The cache is a temporary folder, removed afterwards.

    python benchmarks/image_build.py [--packages a,b] [--json]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import tempfile
import time
from pathlib import Path


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--packages", default="", help="extra packages, comma-separated")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    cache = Path(tempfile.mkdtemp(prefix="umti-", dir="/var/tmp"))
    os.environ["UMLTUI_CACHE_DIR"] = str(cache)
    from umltui.core import images

    recipe = images.Recipe.make(packages=[p for p in args.packages.split(",") if p])
    try:
        t0 = time.perf_counter()
        image, built = images.build(recipe)
        first = time.perf_counter() - t0
        assert built
        t0 = time.perf_counter()
        again, built_again = images.build(recipe)
        second = time.perf_counter() - t0
        assert not built_again and again.key == image.key
        used, apparent = image.disk_usage()
    finally:
        shutil.rmtree(cache, ignore_errors=True)
    figures = {
        "image": image.name,
        "first_build_s": round(first, 1),
        "stages_s": image.stages,
        "used_mib": round(used / 2**20, 1),
        "apparent_mib": round(apparent / 2**20, 1),
        "second_build_s": round(second, 3),
    }
    if args.json:
        print(json.dumps(figures))
        return
    print(f"{image.name}: first build {figures['first_build_s']} s")
    for stage, seconds in image.stages.items():
        print(f"  {stage:<11} {seconds:6.1f} s  {images.STAGES.get(stage, '')}")
    print(f"  on disk {figures['used_mib']} MiB of {figures['apparent_mib']} MiB apparent (sparse)")
    print(f"second build of the same request: {figures['second_build_s']} s (from the cache)")


if __name__ == "__main__":
    main()
