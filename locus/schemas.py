"""Arrow schemas of every LOCUS table: the one place the data model is written down."""

from __future__ import annotations

import pyarrow as pa

QUERIES = pa.schema(
    [
        pa.field("query_id", pa.string(), nullable=False),
        pa.field("text", pa.string(), nullable=False),
        pa.field("benchmark", pa.string()),
        pa.field("answer", pa.string()),
        pa.field("choices", pa.list_(pa.string())),
        pa.field("metadata", pa.string()),  # free-form JSON
    ]
)


def query_embeddings(dim: int) -> pa.Schema:
    """Query embeddings of one encoder: fixed-size float32 vectors of that encoder's width."""
    return pa.schema(
        [
            pa.field("query_id", pa.string(), nullable=False),
            pa.field("encoder", pa.string(), nullable=False),
            pa.field("vector", pa.list_(pa.float32(), dim), nullable=False),
        ]
    )


EVALUATIONS = pa.schema(
    [
        pa.field("model_id", pa.string(), nullable=False),
        pa.field("query_id", pa.string(), nullable=False),
        pa.field("score", pa.float32(), nullable=False),
        pa.field("scorer", pa.string(), nullable=False),
        pa.field("source", pa.string()),
    ]
)

GENERATIONS = pa.schema(
    [
        pa.field("model_id", pa.string(), nullable=False),
        pa.field("query_id", pa.string(), nullable=False),
        pa.field("prompt", pa.string()),
        pa.field("output", pa.string()),
        pa.field("prompt_tokens", pa.int64()),
        pa.field("output_tokens", pa.int64()),
        pa.field("sampling", pa.string()),  # JSON of the sampling parameters
        pa.field("engine", pa.string()),  # e.g. vllm-0.32.0
        pa.field("created_at", pa.timestamp("us", tz="UTC")),
    ]
)

MODELS = pa.schema(
    [
        pa.field("model_id", pa.string(), nullable=False),
        pa.field("display_name", pa.string()),
        pa.field("family", pa.string()),
        pa.field("params_b", pa.float64()),
        pa.field("cost_per_1k_tokens", pa.float64()),
        pa.field("served_at", pa.string()),  # OpenAI-compatible API root answering for it (a gateway backend)
        pa.field("available", pa.bool_()),
        pa.field("served_name", pa.string()),  # the name served_at knows it by (default: model_id)
    ]
)


RESPONSES = pa.schema(
    [
        pa.field("response_id", pa.string(), nullable=False),  # locus-<yyyymmdd>-<hex>: its day is its partition
        pa.field("model_id", pa.string(), nullable=False),  # the model that answered
        pa.field("text", pa.string(), nullable=False),  # what of the request was routed (the query feedback makes)
        pa.field("created_at", pa.timestamp("us", tz="UTC"), nullable=False),
    ]
)


def model_embeddings(dim: int) -> pa.Schema:
    """Model embeddings made by one encoder checkpoint (version)."""
    return pa.schema(
        [
            pa.field("model_id", pa.string(), nullable=False),
            pa.field("version", pa.string(), nullable=False),
            pa.field("vector", pa.list_(pa.float32(), dim), nullable=False),
            pa.field("n_evaluations", pa.int64(), nullable=False),
            pa.field("updated_at", pa.timestamp("us", tz="UTC"), nullable=False),
        ]
    )


def conform(table: pa.Table, schema: pa.Schema, *, name: str) -> pa.Table:
    """Select and cast `table`'s columns to `schema`, adding absent nullable columns as nulls.

    Raises a `LocusDataError` naming the table and column when a required column is absent
    or a column cannot be cast.
    """
    from locus.errors import LocusDataError

    columns = []
    for field in schema:
        if field.name not in table.column_names:
            if not field.nullable:
                raise LocusDataError(f"{name}: required column '{field.name}' is missing "
                                     f"(columns present: {', '.join(table.column_names)})")
            columns.append(pa.nulls(table.num_rows, field.type))
            continue
        column = table.column(field.name)
        try:
            columns.append(column.cast(field.type))
        except (pa.ArrowInvalid, pa.ArrowNotImplementedError) as exc:
            raise LocusDataError(f"{name}: column '{field.name}' has type {column.type}, "
                                 f"expected {field.type}: {exc}") from exc
    return pa.Table.from_arrays(columns, schema=schema)
