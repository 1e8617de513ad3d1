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
# Time the import inside the child, so interpreter start-up is reported apart;
# count the AWS clients the import makes (there must be none).
IMPORT_APP = """import time
t = time.perf_counter()
import botocore.client
made = []
create = botocore.client.ClientCreator.create_client
botocore.client.ClientCreator.create_client = lambda *a, **k: made.append(1) or create(*a, **k)
import app
print(time.perf_counter() - t, len(made))"""
# The third-party modules `import app` loads, in the order it loads them (found in a child process).
APP_LIBRARIES = """import sys
import app
print(" ".join(n for n in list(sys.modules) if not n.startswith("__") and n.split(".")[0]
               not in set(sys.stdlib_module_names) | {"app", "chalicelib", "_distutils_hack"}))"""
# The same modules and a Chalice app, without Caseload's code: what the app itself adds.
BARE_APP = """import importlib, time
t = time.perf_counter()
for name in {modules!r}:
    try:
        importlib.import_module(name)
    except Exception:
        pass  # an alias some package registers (six.moves...), not a module of its own
from chalice import Chalice
Chalice(app_name="bare")
print(time.perf_counter() - t, 0)"""


def _run(code_text: str, code: Path, layer_site: Path, env: dict) -> str:
    done = subprocess.run([sys.executable, "-S", "-c", code_text], cwd=code, capture_output=True, text=True,
                          env=package.lambda_env(code, layer_site, env), check=True)
    return done.stdout.strip().splitlines()[-1]


def import_times(code: Path, layer_site: Path, env: dict, runs: int = RUNS, code_text: str = IMPORT_APP) -> tuple:
    """(import seconds, whole-process seconds, AWS clients made) of each run."""
    imports, processes, clients = [], [], 0
    for _ in range(runs):
        started = time.perf_counter()
        seconds, made = _run(code_text, code, layer_site, env).split()
        processes.append(time.perf_counter() - started)
        imports.append(float(seconds))
        clients = max(clients, int(made))
    return imports, processes, clients


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
        imports, processes, clients = import_times(code, layer_site, env)
        modules = _run(APP_LIBRARIES, code, layer_site, env).split()
        bare, _, _ = import_times(code, layer_site, env, code_text=BARE_APP.format(modules=modules))
    figures = {
        "zip_bytes": sizes,
        "unzipped_bytes": unzipped,
        "import_app_median_ms": round(statistics.median(imports) * 1000, 1),
        "process_median_ms": round(statistics.median(processes) * 1000, 1),
        "bare_app_median_ms": round(statistics.median(bare) * 1000, 1),
        "aws_clients_made_by_import": clients,
        "package_seconds": round(build_seconds, 1),
    }
    print(f"package ({stage}), built in {figures['package_seconds']} s:")
    for name, size in sizes.items():
        print(f"  {name:24} {size / 1e6:7.2f} MB zipped")
    for name, size in unzipped.items():
        print(f"  {name + ' unzipped':24} {size / 1e6:7.2f} MB")
    print(f"  import app (median of {RUNS}, python -S, package only): {figures['import_app_median_ms']} ms; "
          f"whole process {figures['process_median_ms']} ms")
    print(f"  a bare Chalice app importing the same {len(modules)} library modules: "
          f"{figures['bare_app_median_ms']} ms (so Caseload's own code: "
          f"{figures['import_app_median_ms'] - figures['bare_app_median_ms']:.0f} ms)")
    print(f"  AWS clients created while importing app: {clients} (must be 0)")
    return figures


if __name__ == "__main__":
    report(*sys.argv[1:3])
