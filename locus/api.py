"""Request and response bodies of the HTTP API, with the limits that answer 413/422: the contract
between `PoolService` (locus.service), which takes and returns them, and the Serve ingress."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class RouteRequest(Strict):
    query: str | None = Field(None, min_length=1, description="one query text")
    queries: list[str] | None = Field(None, min_length=1, description="a batch of query texts")
    candidates: list[str] | None = Field(None, min_length=1, description="route only among these models")
    unavailable: list[str] = Field(default_factory=list, description="models that cannot answer now")
    cost_weight: float = Field(0.0, ge=0, allow_inf_nan=False, description="utility = p - weight * cost per 1k")
    k: int = Field(5, ge=1, le=100, description="ranked models returned per query")

    @model_validator(mode="after")
    def _one_of(self) -> RouteRequest:
        if (self.query is None) == (self.queries is None):
            raise ValueError("give exactly one of 'query' (a text) or 'queries' (a list of texts)")
        return self

    @property
    def texts(self) -> list[str]:
        return [self.query] if self.query is not None else list(self.queries)


class RankedModel(BaseModel):
    model_id: str
    p_correct: float
    utility: float


class RouteResult(BaseModel):
    choice: str
    p_correct: float
    proxy_for: str | None = Field(None, description="the best model, unavailable, that `choice` stands in for")
    ranked: list[RankedModel]


class RouteResponse(BaseModel):
    version: str
    results: list[RouteResult]


class Evaluation(Strict):
    query_id: str | None = Field(None, min_length=1, description="a query known to the store")
    query: str | None = Field(None, min_length=1, description="or the query text")
    score: float = Field(ge=0, le=1, allow_inf_nan=False, description="1 = correct, 0 = wrong, or in between")

    @model_validator(mode="after")
    def _one_of(self) -> Evaluation:
        if (self.query_id is None) == (self.query is None):
            raise ValueError("each evaluation needs exactly one of 'query_id' or 'query'")
        return self


class EmbeddingRequest(Strict):
    model_id: str | None = Field(None, min_length=1, max_length=200,
                                 description="register (or refine) this model; needs the write token")
    evaluations: list[Evaluation] = Field(min_length=1)


class EmbeddingResponse(BaseModel):
    version: str
    model_id: str | None
    registered: bool
    n_evaluations: int
    embedding: list[float]


class CompareRequest(Strict):
    models: list[str] = Field(min_length=2, max_length=200)


class CompareResponse(BaseModel):
    version: str
    models: list[str]
    distance: list[list[float]]
    predicted_disagreement: list[list[float]]


class Neighbour(BaseModel):
    model_id: str
    distance: float


class NeighboursResponse(BaseModel):
    model_id: str
    neighbors: list[Neighbour]


class PortfolioRequest(Strict):
    k: int | None = Field(None, ge=1, le=1000, description="portfolio size")
    budget: float | None = Field(None, gt=0, allow_inf_nan=False, description="total cost allowed (coverage)")
    method: Literal["k-center", "k-medoids", "coverage"] = "coverage"
    cost: Literal["params_b", "cost_per_1k_tokens"] = Field("params_b", description="models-table column that "
                                                                                    "prices a model")

    @model_validator(mode="after")
    def _one_of(self) -> PortfolioRequest:
        if (self.k is None) == (self.budget is None):
            raise ValueError("give exactly one of 'k' (portfolio size) or 'budget' (total cost)")
        return self


class PortfolioModel(BaseModel):
    model_id: str
    cost: float | None


class PortfolioResponse(BaseModel):
    version: str
    method: str
    models: list[PortfolioModel]
    predicted_routing_acc: float = Field(description="mean over reference queries of the best p(correct) in the "
                                                     "portfolio")
    predicted_pool_routing_acc: float = Field(description="the same with every model")
    unpriced: list[str] = Field(default_factory=list, description="with a budget: models left out because the "
                                                                  "models table has no cost for them")


class ServiceInfo(BaseModel):
    version: str
    encoder: str
    models: int
