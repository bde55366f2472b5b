"""Storage roots: where a store lives (a local folder or an object-store URI) and how to reach it."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import pyarrow as pa
import pyarrow.fs as pafs
from pydantic import AfterValidator

from locus.errors import LocusDataError

DEFAULT_ROOT = "./locus-data"


def resolve_root(root: str | Path) -> str:
    """A storage root as it may cross into Ray: an absolute local path, or a URI unchanged.

    Ray Train workers run in their run's own folder and other Ray processes in their own, so a
    relative root would open a different (empty) store there."""
    text = str(root)
    return text if "://" in text else str(Path(text).expanduser().resolve())


StorageRoot = Annotated[str, AfterValidator(resolve_root)]
"""A config field holding a storage root, resolved when the config is validated."""


def filesystem(uri: str) -> tuple[pafs.FileSystem, str]:
    """(pyarrow filesystem, path) for a resolved root: pyarrow's own filesystems (local, s3, gs,
    hdfs), else any fsspec protocol through a bridge. Used for checkpoints and Ray Train runs."""
    if "://" not in uri:
        return pafs.LocalFileSystem(), uri.rstrip("/")
    try:
        fs, path = pafs.FileSystem.from_uri(uri)
    except pa.ArrowInvalid:
        import fsspec

        try:
            fs, path = fsspec.core.url_to_fs(uri)
        except (ValueError, ImportError) as exc:
            raise LocusDataError(f"--root {uri!r}: no filesystem for this URI ({exc})") from exc
        fs = pafs.PyFileSystem(pafs.FSSpecHandler(fs))
    return fs, path.rstrip("/")


TABLE_SCHEMES = ("file", "s3", "s3a", "gs", "gcs", "az", "abfs", "abfss", "adl", "azure", "lakefs")
"""URI schemes delta-rs stores tables on (checkpoints and runs may use any pyarrow or fsspec filesystem)."""


def check_table_scheme(uri: str) -> None:
    scheme = uri.split("://", 1)[0] if "://" in uri else "file"
    if scheme not in TABLE_SCHEMES:
        raise LocusDataError(f"--root {uri!r}: tables need a local path or an object store Delta Lake supports "
                             f"({', '.join(s + '://' for s in TABLE_SCHEMES)}), not {scheme}://")


def storage_options(uri: str) -> dict[str, str]:
    """delta-rs options for a root. Credentials, region and endpoint come from the usual AWS_*
    variables (AWS_ENDPOINT_URL, AWS_ALLOW_HTTP=true for a plain-http server). Commits on S3 are
    conditional writes (If-None-Match: AWS S3, MinIO, R2, moto), so concurrent writers need no
    external lock service; delta-rs 1.x has no other safe way on S3 (its DynamoDB lock is gone)."""
    if uri.startswith(("s3://", "s3a://")):
        return {"conditional_put": "etag"}
    return {}
