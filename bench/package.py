"""`python -m bench.package`: the package's zip sizes and the cold import of `app`.

Builds the prod package (as `make package` does), unzips it the way Lambda
lays it out (function in one folder, layer in another) and imports `app` in a
fresh `python -S` ten times, so only the package's own files are importable.
`report()` is what `make bench` (bench/run.py) calls.
"""
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from deploy import package
from deploy.settings import PROJECT, load

RUNS = 10
# Time the import inside the child, so interpreter start-up is reported apart.
IMPORT_APP = "import time; t = time.perf_counter(); import app; print(time.perf_counter() - t)"


def import_times(code: Path, layer_site: Path, env: dict, runs: int = RUNS) -> tuple:
    """(import seconds, whole-process seconds) of each run."""
    imports, processes = [], []
    for _ in range(runs):
        started = time.perf_counter()
        done = subprocess.run([sys.executable, "-S", "-c", IMPORT_APP], cwd=code, capture_output=True, text=True,
                              env=package.lambda_env(code, layer_site, env), check=True)
        processes.append(time.perf_counter() - started)
        imports.append(float(done.stdout.strip().splitlines()[-1]))
    return imports, processes


def report(stage: str = "prod", region: str = "eu-west-1") -> dict:
    out = PROJECT / "build" / f"package-{stage}"
    started = time.perf_counter()
    sizes = package.package(stage, region, out)
    build_seconds = time.perf_counter() - started
    settings = load(stage, region)
    env = {**{k: v for k, v in os.environ.items() if not k.startswith("AWS_")}, **settings.environment,
           **package.OFFLINE_ENV, "AWS_DEFAULT_REGION": region, "AWS_REGION": region}
    with tempfile.TemporaryDirectory() as scratch:
        code, layer_site = package.unpack(out, Path(scratch))
        unzipped = {name: sum(f.stat().st_size for f in folder.rglob("*") if f.is_file())
                    for name, folder in (("function", code), ("layer", layer_site))}
        imports, processes = import_times(code, layer_site, env)
    figures = {
        "zip_bytes": sizes,
        "unzipped_bytes": unzipped,
        "import_app_median_ms": round(statistics.median(imports) * 1000, 1),
        "process_median_ms": round(statistics.median(processes) * 1000, 1),
        "package_seconds": round(build_seconds, 1),
    }
    print(f"package ({stage}), built in {figures['package_seconds']} s:")
    for name, size in sizes.items():
        print(f"  {name:24} {size / 1e6:7.2f} MB zipped")
    for name, size in unzipped.items():
        print(f"  {name + ' unzipped':24} {size / 1e6:7.2f} MB")
    print(f"  import app (median of {RUNS}, python -S, package only): {figures['import_app_median_ms']} ms; "
          f"whole process {figures['process_median_ms']} ms")
    return figures


if __name__ == "__main__":
    report(*sys.argv[1:3])
