"""`locus report`: figures and one HTML page that explain a registered version to a person choosing
models: the embedding map, distances, accuracy vs evaluations, portfolios and routing per benchmark."""

from locus.report.build import build_report

__all__ = ["build_report"]
