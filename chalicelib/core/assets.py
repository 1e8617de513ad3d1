"""Where templates/ and static/ are: beside the code on a laptop, under
chalicelib/assets/ in the Lambda package (the build copies them there).

In production static files are served from S3 behind CloudFront under
fingerprinted names (`app.3f2a1b9c0d.css`: the content's hash), cached for a
year as immutable; `make package` writes that bundle with `fingerprinted()`,
and pages link to the same names (chalicelib/core/urls.py `static`).
"""
import hashlib
from functools import lru_cache
from pathlib import Path
from typing import Dict

ROOT = Path(__file__).resolve().parents[2]
ASSET_DIRS = [ROOT, ROOT / "chalicelib" / "assets"]
FINGERPRINT_LENGTH = 10  # hex digits of the content's SHA-256


def asset_dir(name: str) -> Path:
    for base in ASSET_DIRS:
        if (base / name).is_dir():
            return base / name
    raise FileNotFoundError(name)


def fingerprint_of(name: str, content: bytes) -> str:
    """`app.css` + its bytes -> `app.<hash>.css`: a new name whenever the content changes."""
    digest = hashlib.sha256(content).hexdigest()[:FINGERPRINT_LENGTH]
    stem, dot, suffix = name.rpartition(".")
    return f"{stem}.{digest}.{suffix}" if dot else f"{name}.{digest}"


@lru_cache(maxsize=1)
def fingerprinted() -> Dict[str, str]:
    """{file name: fingerprinted name} for every file in static/ (read once per process;
    the package's files do not change while a Lambda runs)."""
    folder = asset_dir("static")
    return {path.name: fingerprint_of(path.name, path.read_bytes())
            for path in sorted(folder.iterdir()) if path.is_file()}
