"""What an operator watches, as Prometheus metrics through Ray (`ray.util.metrics`): each node's
metrics agent exports them, prefixed `ray_`, beside Serve's own `ray_serve_*` series; the Grafana
dashboard in platform/grafana/ plots them.

Made lazily, once per replica process (a metric belongs to the process that records it)."""

from __future__ import annotations

from functools import cache

from ray.util.metrics import Counter, Histogram

LATENCY_BOUNDS = [0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1.0, 2.0, 5.0]
BATCH_BOUNDS = [1, 2, 4, 8, 16, 32, 64, 128, 256]


class ServeMetrics:
    def __init__(self) -> None:
        self.requests = Counter("locus_requests_total", description="HTTP requests by endpoint and status",
                                tag_keys=("endpoint", "status"))
        self.routed = Counter("locus_routed_total", description="queries routed, by the model chosen",
                              tag_keys=("model_id",))
        self.proxied = Counter("locus_proxy_fallbacks_total",
                               description="routes answered by a proxy because the best model was unavailable",
                               tag_keys=("unavailable",))
        self.registrations = Counter("locus_registrations_total", description="models registered or refined")
        self.cache = Counter("locus_encoder_cache_total", description="routing texts found in (hit) or missing "
                                                                      "from (miss) the ingress's vector cache",
                             tag_keys=("outcome",))
        self.batch = Histogram("locus_encoder_batch_size", description="texts per query-encoder forward pass",
                               boundaries=BATCH_BOUNDS)
        self.route_latency = Histogram("locus_route_latency_seconds", description="/v1/route time in the ingress",
                                       boundaries=LATENCY_BOUNDS)
        self.gateway_requests = Counter("locus_gateway_requests_total",
                                        description="gateway calls of each model's backend, by outcome (answered, "
                                                    "failed: another model was tried, refused: a client error)",
                                        tag_keys=("model_id", "outcome"))
        self.gateway_tokens = Counter("locus_gateway_tokens_total", description="tokens in (prompt) and out "
                                                                               "(completion) by model, as backends "
                                                                               "report them",
                                      tag_keys=("model_id", "direction"))
        self.gateway_fallbacks = Counter("locus_gateway_fallbacks_total",
                                         description="requests answered by another model after their first choice "
                                                     "failed", tag_keys=("failed", "answered"))
        self.gateway_feedback = Counter("locus_gateway_feedback_total",
                                        description="feedback stored as an evaluation, by the model it refined",
                                        tag_keys=("model_id",))
        self.gateway_route_latency = Histogram("locus_gateway_route_seconds", description="time the gateway spends "
                                                                                         "choosing a model",
                                               boundaries=LATENCY_BOUNDS)


@cache
def metrics() -> ServeMetrics:
    return ServeMetrics()
