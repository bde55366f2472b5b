"""Request and response bodies of the HTTP API, with the limits that answer 413/422: the contract
between `PoolService` (locus.service), which takes and returns them, and the Serve ingress.

Requests are strict (no coercion, no unknown fields), and every rule is in the JSON schema the
OpenAPI document publishes: "exactly one of" pairs are `oneOf` of two `required` sets, and the
fields of such a pair are absent rather than null when not given."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, model_validator


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)


def _integral(value: object) -> object:
    return int(value) if isinstance(value, float) and value.is_integer() else value


# ints that, as JSON Schema says of integers, may be written 5.0 (strict otherwise: no "5"); the
# bounds come before the validator, or they drop out of the JSON schema
Count = Annotated[int, Field(ge=0), BeforeValidator(_integral)]
TopK = Annotated[int, Field(ge=1, le=100), BeforeValidator(_integral)]
PortfolioSize = Annotated[int, Field(ge=1, le=1000), BeforeValidator(_integral)]


def _no_default(schema: dict) -> None:
    schema.pop("default", None)


def optional(**kwargs):
    """A field that may be left out but not sent as null (one side of an "exactly one of" pair)."""
    return Field(None, json_schema_extra=_no_default, **kwargs)


def exactly_one_of(a: str, b: str, **dependent: dict) -> ConfigDict:
    """Strict, and the pair's rule in the schema (`dependent`: what a field present requires of the others)."""
    extra = {"oneOf": [{"required": [a]}, {"required": [b]}]} | ({"dependentSchemas": dependent} if dependent else {})
    return ConfigDict(extra="forbid", strict=True, json_schema_extra=extra)


class FieldError(BaseModel):
    field: str
    message: str


class ErrorBody(BaseModel):
    """Every error the API answers, whatever the status."""

    error: str = Field(description="what went wrong, naming the field or the limit")
    details: list[FieldError] | None = Field(None, description="each invalid field (422)")


class RouteRequest(Strict):
    model_config = exactly_one_of("query", "queries")

    query: str = optional(min_length=1, description="one query text")
    queries: list[str] = optional(min_length=1, description="a batch of query texts")
    candidates: list[str] | None = Field(None, min_length=1, description="route only among these models")
    unavailable: list[str] = Field(default_factory=list, description="models that cannot answer now")
    cost_weight: float = Field(0.0, ge=0, allow_inf_nan=False, description="utility = p - weight * cost per 1k")
    min_p: float | None = Field(None, ge=0, le=1, allow_inf_nan=False,
                                description="choose the cheapest model whose calibrated p(correct) reaches this "
                                            "(the best-ranked when none does)")
    k: TopK = Field(5, description="ranked models returned per query")
    min_evaluations: Count | None = Field(None, description="route only to models embedded from at least this "
                                                                "many evaluations (default: the server's; 0: all)")

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
    p_correct: float = Field(description="the predictor's p(correct)")
    p_calibrated: float = Field(description="p(correct) after the version's calibration and the evidence weighting: "
                                            "what min_p is compared with")
    utility: float = Field(description="what the ranking uses: p(correct) weighed by evidence, minus cost")
    n_evaluations: int = Field(description="evaluations the model's embedding rests on")
    evidence: float = Field(description="weight of the model's own prediction, n / (n + prior_strength); the rest "
                                        "is the pool's average")


class RouteResult(BaseModel):
    choice: str
    p_correct: float
    proxy_for: str | None = Field(None, description="the best model, unavailable, that `choice` stands in for")
    fallbacks: list[str] = Field(default_factory=list, description="where to send the query when `choice` fails, in "
                                                                  "order: its nearest neighbour, then by rank")
    ranked: list[RankedModel]


class HeldBack(BaseModel):
    model_id: str
    n_evaluations: int


class RouteResponse(BaseModel):
    version: str
    results: list[RouteResult]
    min_evaluations: int = Field(description="the minimum this request routed with")
    held_back: list[HeldBack] = Field(default_factory=list, description="candidates not routed to: embedded from "
                                                                        "fewer evaluations than min_evaluations")


class Evaluation(Strict):
    model_config = exactly_one_of("query_id", "query")

    query_id: str = optional(min_length=1, description="a query known to the store")
    query: str = optional(min_length=1, description="or the query text")
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


class FeedbackRequest(Strict):
    response_id: str = Field(min_length=1, max_length=200, description="the `id` of a gateway answer (its "
                                                                       "x-locus-response-id header)")
    score: float = Field(ge=0, le=1, allow_inf_nan=False, description="how good the answer was: 1 = right "
                                                                      "(thumbs up), 0 = wrong, or in between")


class FeedbackResponse(BaseModel):
    response_id: str
    model_id: str = Field(description="the model that answered, now refined with this evaluation")
    query_id: str = Field(description="the query the routed text became")
    version: str
    n_evaluations: int = Field(description="evaluations the model's embedding now rests on")


class DriftCheckRequest(Strict):
    models: list[str] | None = Field(None, min_length=1, max_length=1000,
                                     description="the models to check (default: every one the gateway routes to)")


OnboardingStrategy = Literal["random", "stratified", "coverage", "disagreement", "uncertainty"]  # locus.onboarding


class OnboardRequest(Strict):
    model_id: str = Field(min_length=1, max_length=200, pattern=r"^[\w.:@/+-]+$",
                          description="the new model's id in the pool (and the name gateway clients use)")
    model: str | None = Field(None, min_length=1, max_length=1000, description="the HF id or folder of the weights "
                                                                               "vLLM loads (default: model_id)")
    budget: int | None = Field(None, ge=1, le=100_000, description="queries to have it evaluated on (default: the "
                                                                   "gateway's onboarding.budget)")
    strategy: OnboardingStrategy | None = Field(
        None, description="how the queries are picked (default: the gateway's onboarding.strategy)")
    served_at: str | None = Field(None, pattern=r"^https?://", max_length=1000,
                                  description="the OpenAI-compatible API root that serves it: the gateway routes to "
                                              "it there once it is registered")
    served_name: str | None = Field(None, min_length=1, max_length=200,
                                    description="the name served_at knows it by (default: model_id)")


class OnboardingStatus(BaseModel):
    id: str = Field(description="the Ray job's id (`locus job status ID` follows it too)")
    object: Literal["onboarding"] = "onboarding"
    model_id: str
    status: Literal["PENDING", "RUNNING", "SUCCEEDED", "FAILED", "STOPPED"]
    message: str | None = None
    routable: bool = Field(description="the gateway answering routes `locus/auto` to the model")
    log_tail: list[str] = Field(default_factory=list, description="the job's last log lines")


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
    model_config = exactly_one_of("k", "budget", budget={"properties": {"method": {"const": "coverage"}}})

    k: PortfolioSize = optional(description="portfolio size")
    budget: float = optional(gt=0, allow_inf_nan=False, description="total cost allowed (method coverage only)")
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


class Health(BaseModel):
    status: Literal["ok"] = "ok"
    version: str | None = Field(None, description="left out when reads need a token and none was sent")
    encoder: str | None = None
    models: int | None = None


class ModelInfo(BaseModel):
    model_id: str
    display_name: str
    family: str | None = None
    params_b: float | None = None
    cost_per_1k_tokens: float | None = None
    served_at: str | None = None
    available: bool
    n_evaluations: int


class ModelPage(ModelInfo):
    version: str
    embedding: list[float]


class ModelsResponse(BaseModel):
    models: list[ModelInfo]
