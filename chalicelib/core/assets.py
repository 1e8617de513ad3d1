"""Where templates/ and static/ are: beside the code on a laptop, under
chalicelib/assets/ in the Lambda package (the build copies them there)."""
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
ASSET_DIRS = [ROOT, ROOT / "chalicelib" / "assets"]


def asset_dir(name: str) -> Path:
    for base in ASSET_DIRS:
        if (base / name).is_dir():
            return base / name
    raise FileNotFoundError(name)
