"""The store: every LOCUS table under one root, on Delta Lake (`Store`), and storage roots."""

from locus.store.roots import DEFAULT_ROOT, StorageRoot, resolve_root, storage_options
from locus.store.store import BUCKETS, Store, encoder_slug, model_bucket, response_day

__all__ = ["BUCKETS", "DEFAULT_ROOT", "StorageRoot", "Store", "encoder_slug", "model_bucket", "resolve_root",
           "response_day", "storage_options"]
