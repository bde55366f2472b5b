"""Importers turn published result files into LOCUS queries and evaluations tables."""

from locus.importers.mmlu_pro import read_mmlu_pro
from locus.importers.table import read_table_file

__all__ = ["read_mmlu_pro", "read_table_file"]
