"""Importers turn published result files into LOCUS queries, evaluations and models tables."""

from __future__ import annotations

from dataclasses import dataclass

import pyarrow as pa
import pyarrow.compute as pc

from locus import schemas
from locus.importers.mmlu_pro import read_mmlu_pro
from locus.importers.models import describe_models
from locus.importers.table import read_table_file
from locus.store import Store
from locus.validation import validate_evaluations, validate_queries

__all__ = ["ImportReport", "import_tables", "read_mmlu_pro", "read_table_file"]


@dataclass
class ImportReport:
    queries: int
    new_queries: int
    evaluations: int
    models: int


def import_tables(store: Store, queries: pa.Table, evaluations: pa.Table,
                  models: pa.Table | None = None) -> ImportReport:
    """Validate queries, evaluations and model metadata together (nothing is written on error), then
    upsert them; models with no metadata given that the store does not know yet are registered with
    what their ids reveal (family and size)."""
    queries = schemas.conform(queries, schemas.QUERIES, name="queries")
    evaluations = schemas.conform(evaluations, schemas.EVALUATIONS, name="evaluations")
    if models is not None:
        models = schemas.conform(models, schemas.MODELS, name="models")
    validate_queries(queries)
    stored = store.read_queries()
    validate_evaluations(evaluations, pc.unique(pa.concat_arrays(
        [stored.column("query_id").combine_chunks(), queries.column("query_id").combine_chunks()])))
    new_queries = store.write_queries(queries)
    store.write_evaluations(evaluations)
    model_ids = pc.unique(evaluations.column("model_id")).to_pylist()
    if models is not None:
        store.write_models(models)
    known = set(store.read_models().column("model_id").to_pylist())
    if unknown := [m for m in model_ids if m not in known]:
        store.write_models(describe_models(unknown))
    return ImportReport(queries.num_rows, new_queries, evaluations.num_rows, len(model_ids))
