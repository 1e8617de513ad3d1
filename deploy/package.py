"""`python -m deploy.package --stage prod --region eu-west-1 --out build/package-prod`

What `make package` runs:
1. check the stage settings (one-line message naming a bad one, exit 2);
2. lay out a build copy of the app in build/src-<stage>: app.py, chalicelib/
   (without the local emulator), the .chalice settings, and templates/ +
   static/ under chalicelib/assets/, because Chalice packages only app.py,
   chalicelib/ and vendor/ (chalicelib/web/render.py looks there);
3. write the merge template (deploy.template) and run `chalice package` with it,
   offline: fake credentials, the region given;
4. check the merged template and print the zip sizes;
5. write the static site's bundle, build/package-<stage>/static/: every file of
   static/ under its fingerprinted name (chalicelib/core/assets.py), which the
   pages link to in production. Uploading it is a deploy step (README).
"""
import fcntl
import json
import os
import shutil
import subprocess
import sys
import tempfile
import zipfile
from contextlib import contextmanager
from pathlib import Path
from typing import Optional

from chalicelib.core import assets
from deploy import posture, template
from deploy.settings import PROJECT, SettingError, load, stage_arguments

IGNORED = shutil.ignore_patterns("__pycache__", "*.pyc")
OFFLINE_ENV = {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing", "AWS_SESSION_TOKEN": "testing"}
# Chalice adds its own runtime module to every function; the CLI and its
# dependencies (click, yaml, inquirer, ...) have no business in the layer.
NOT_DEPLOYED = ("chalice",)


def _runtime_requirements(text: str) -> str:
    kept = [line for line in text.splitlines()
            if line.split("==")[0].split("#")[0].strip().lower() not in NOT_DEPLOYED]
    return "\n".join(kept) + "\n"


def lay_out(stage: str, project: Path = PROJECT) -> Path:
    """The build copy of the app; its .chalice/deployments cache survives between builds."""
    source = project / "build" / f"src-{stage}"
    source.mkdir(parents=True, exist_ok=True)
    for stale in ("app.py", "chalicelib", "vendor", "requirements.txt"):
        path = source / stale
        shutil.rmtree(path) if path.is_dir() else path.unlink(missing_ok=True)
    shutil.copy2(project / "app.py", source / "app.py")
    shutil.copytree(project / "chalicelib", source / "chalicelib", ignore=IGNORED)
    if (project / "vendor").is_dir():
        shutil.copytree(project / "vendor", source / "vendor", ignore=IGNORED)
    assets = source / "chalicelib" / "assets"
    for folder in ("templates", "static"):
        shutil.copytree(project / folder, assets / folder, ignore=IGNORED)
    (source / "requirements.txt").write_text(_runtime_requirements((project / "requirements.txt").read_text()))
    settings_dir = source / ".chalice"
    settings_dir.mkdir(exist_ok=True)
    for settings_file in (project / ".chalice").glob("*.json"):
        shutil.copy2(settings_file, settings_dir / settings_file.name)
    return source


def merge_problems(merged: dict) -> list:
    """What `chalice package` merged wrongly: a section for a function Chalice did
    not generate (no Type), or an intrinsic merged over another one."""
    problems = []

    def walk(value, where):
        if isinstance(value, dict):
            intrinsics = [k for k in value if k == "Ref" or k.startswith("Fn::")]
            if intrinsics and len(value) > 1:
                problems.append(f"{where}: mixed values {sorted(value)}")
            for key, child in value.items():
                walk(child, f"{where}.{key}")
        elif isinstance(value, list):
            for i, child in enumerate(value):
                walk(child, f"{where}[{i}]")

    for name, resource in merged["Resources"].items():
        if "Type" not in resource:
            problems.append(f"{name}: no Type (the merge template names a resource Chalice did not generate)")
        walk(resource, name)
    return problems


def add_bytecode(zip_path: Path, cache: Optional[Path] = None) -> None:
    """Add compiled modules to a zip. Lambda's code folders are read-only, so
    without them every cold start compiles every module (measured: the import
    of app takes about twice as long). Unchecked-hash .pyc files are used as
    they are, whatever the files' timestamps after unzipping."""
    import hashlib
    import importlib.util
    import py_compile

    cached = None
    if cache is not None:  # the layer rarely changes: compile each version once
        cached = cache / f"compiled-{hashlib.sha256(zip_path.read_bytes()).hexdigest()[:20]}.zip"
        if cached.exists():
            shutil.copy2(cached, zip_path)
            return
    with tempfile.TemporaryDirectory() as scratch:
        with zipfile.ZipFile(zip_path) as archive:
            entries = archive.infolist()
            archive.extractall(scratch)
        rebuilt = zip_path.with_suffix(".tmp")
        with zipfile.ZipFile(rebuilt, "w", zipfile.ZIP_DEFLATED) as archive:
            for entry in entries:
                source = Path(scratch) / entry.filename
                archive.writestr(entry, source.read_bytes() if not entry.is_dir() else b"")
                if entry.filename.endswith(".py") and not entry.is_dir():
                    compiled = Path(importlib.util.cache_from_source(str(source)))
                    try:
                        py_compile.compile(str(source), cfile=str(compiled), doraise=True,
                                           invalidation_mode=py_compile.PycInvalidationMode.UNCHECKED_HASH)
                    except py_compile.PyCompileError:
                        continue  # e.g. a Python 2 file shipped in a wheel: left as source, as before
                    name = str(compiled.relative_to(scratch))
                    info = zipfile.ZipInfo(name, date_time=entry.date_time)
                    info.external_attr, info.compress_type = entry.external_attr, zipfile.ZIP_DEFLATED
                    archive.writestr(info, compiled.read_bytes())
        rebuilt.replace(zip_path)
    if cached is not None:
        cached.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(zip_path, cached)


def zip_sizes(out: Path) -> dict:
    return {path.name: path.stat().st_size for path in sorted(out.glob("*.zip"))}


@contextmanager
def one_build_at_a_time(stage: str):
    """Builds of a stage share build/src-<stage> and the zip caches in it (two test processes, or
    two `make package`): a second build waits for the first instead of reading a half-written zip."""
    lock_path = PROJECT / "build" / f"package-{stage}.lock"
    lock_path.parent.mkdir(parents=True, exist_ok=True)
    with open(lock_path, "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        yield


def package(stage: str, region: str, out: Path) -> dict:
    settings = load(stage, region)
    template.use_stage_environment(settings)
    with one_build_at_a_time(stage):
        return _build(stage, region, out, settings)


def _build(stage: str, region: str, out: Path, settings) -> dict:
    source = lay_out(stage)
    merge_file = PROJECT / "build" / f"merge-{stage}.json"
    merge_file.write_text(json.dumps(template.build(settings), indent=2) + "\n")
    if out.exists():
        shutil.rmtree(out)
    env = {**os.environ, **OFFLINE_ENV, "AWS_DEFAULT_REGION": region, "AWS_REGION": region}
    env.pop("AWS_ENDPOINT_URL", None)
    command = [sys.executable, "-c", "import sys; from chalice.cli import main; sys.exit(main())", "package",
               "--stage", stage, "--pkg-format", "cloudformation", "--merge-template", str(merge_file), str(out)]
    done = subprocess.run(command, cwd=source, env=env, capture_output=True, text=True)
    if done.returncode != 0:
        raise SettingError(f"chalice package failed: {(done.stderr or done.stdout).strip().splitlines()[-1:]}")
    merged = json.loads((out / "sam.json").read_text())
    problems = merge_problems(merged)
    if problems:
        raise SettingError("the merged template is wrong: " + "; ".join(problems))
    (out / "sam.json").write_text(json.dumps(posture.annotate(merged), indent=2) + "\n")
    for zip_path in out.glob("*.zip"):
        add_bytecode(zip_path, cache=source / ".chalice" / "deployments")
    write_static_bundle(source / "chalicelib" / "assets" / "static", out / STATIC_BUNDLE)
    return zip_sizes(out)


STATIC_BUNDLE = "static"


def write_static_bundle(static: Path, target: Path) -> dict:
    """Every static file under its fingerprinted name; returns {name: fingerprinted name}."""
    target.mkdir(parents=True, exist_ok=True)
    written = {}
    for path in sorted(static.iterdir()):
        if path.is_file():
            written[path.name] = assets.fingerprint_of(path.name, path.read_bytes())
            shutil.copy2(path, target / written[path.name])
    return written


def assets_in(zip_path: Path) -> list:
    with zipfile.ZipFile(zip_path) as archive:
        return [n for n in archive.namelist() if n.startswith("chalicelib/assets/")]


def main(argv=None) -> int:
    args = stage_arguments(__doc__.splitlines()[0], argv)
    out = Path(args.out or PROJECT / "build" / f"package-{args.stage}")
    try:
        sizes = package(args.stage, args.region, out.resolve())
    except SettingError as problem:
        print(f"deploy: {problem}", file=sys.stderr)
        return 2
    for name, size in sizes.items():
        print(f"deploy: {out / name}: {size / 1e6:.2f} MB")
    print(f"deploy: template {out / 'sam.json'}")
    print(f"deploy: static files {out / STATIC_BUNDLE} (upload: README, Deploying to AWS)")
    return 0


if __name__ == "__main__":
    sys.exit(main())


LAYER_SITE = Path("python") / "lib" / "python3.11" / "site-packages"


def unpack(out: Path, target: Path) -> tuple:
    """Unzip a package as Lambda lays it out: the function in /var/task, the layer in /opt.
    Returns (code dir, layer site-packages) for PYTHONPATH."""
    code, layer = target / "task", target / "opt"
    with zipfile.ZipFile(out / "deployment.zip") as archive:
        archive.extractall(code)
    layer_zip = out / "layer-deployment.zip"
    if layer_zip.exists():
        with zipfile.ZipFile(layer_zip) as archive:
            archive.extractall(layer)
    return code, layer / LAYER_SITE


def lambda_env(code: Path, layer_site: Path, base: dict) -> dict:
    """An environment whose Python sees only the package (run it with `python -S`)."""
    env = {k: v for k, v in base.items() if k not in ("PYTHONPATH", "PYTHONHOME")}
    env["PYTHONPATH"] = os.pathsep.join([str(code), str(layer_site)])
    env["PYTHONDONTWRITEBYTECODE"] = "1"
    return env
