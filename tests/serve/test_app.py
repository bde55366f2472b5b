"""The Serve app for real over HTTP on 127.0.0.1: routing, registration, neighbours, compare, auth,
every class of bad input, registry refresh without restart, and a replica killed under load."""

from __future__ import annotations

import json
import socket
import threading
import time
import urllib.error
import urllib.request
from collections import Counter

import numpy as np
import pytest
from locus.serve.run import serving
from locus.serve.settings import ServeSettings

from locus.embedding import embed_store
from locus.encoders import encode_texts
from locus.registration import adhoc_query_id

pytestmark = pytest.mark.slow  # starts Ray (and vLLM, Serve or a training run)

TOKEN = "write-secret"
# a second app beside the module's one: one replica of each deployment
ONE_REPLICA = {name: {"min_replicas": 1, "max_replicas": 1} for name in ("encoder", "locus", "ingress")}


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def call(url: str, path: str, body: object | None = None, *, token: str | None = None, raw: bytes | None = None,
         method: str | None = None) -> tuple[int, dict]:
    data = raw if raw is not None else (json.dumps(body).encode() if body is not None else None)
    headers = {"content-type": "application/json"} | ({"authorization": f"Bearer {token}"} if token else {})
    request = urllib.request.Request(url + path, data=data, headers=headers, method=method)
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read())


@pytest.fixture(scope="module")
def trained_store(trained_store_template, tmp_path_factory):
    """The module's own copy: the tests register models and rewrite the models table."""
    import shutil

    from locus.store import Store

    root = tmp_path_factory.mktemp("serve") / "store"
    shutil.copytree(trained_store_template, root)
    return Store(root)


@pytest.fixture(scope="module")
def url(trained_store):
    import os

    os.environ["RAY_AUTH_MODE"] = "disabled"
    os.environ["RAY_metrics_report_interval_ms"] = "1000"  # noqa: SIM112 (Ray's name) Ray's default of 10 s would slow the metrics test
    settings = ServeSettings(root=str(trained_store.uri), write_token=TOKEN, read_token=None, max_batch=8,
                             max_evaluations=700, max_anonymous_texts=50, max_query_chars=500,
                             max_request_bytes=64_000, refresh_seconds=0.2)
    with serving(settings, port=_free_port(), num_cpus=4) as base:  # room for a second app beside it
        yield base


def test_route_ranks_models_and_uses_a_proxy_when_the_best_is_down(url, trained_store):
    status, body = call(url, "/v1/route", {"query": "What is the capital of France?", "k": 5})
    assert status == 200
    (result,) = body["results"]
    probs = [r["p_correct"] for r in result["ranked"]]
    assert len(probs) == 5 and probs == sorted(probs, reverse=True) and all(0 < p < 1 for p in probs)
    best = result["ranked"][0]["model_id"]
    assert result["choice"] == best and result["proxy_for"] is None

    status, body = call(url, "/v1/route", {"queries": ["What is 2 + 2?", "Define entropy."], "unavailable": [best]})
    assert status == 200 and len(body["results"]) == 2
    first = body["results"][0]
    if first["ranked"][0]["model_id"] == best:
        assert first["proxy_for"] == best and first["choice"] != best
        neighbours = call(url, f"/v1/models/{best}/neighbors?k=1")[1]["neighbors"]
        assert first["choice"] == neighbours[0]["model_id"]  # nearest available in embedding space

    candidates = trained_store.model_ids()[:3]
    status, body = call(url, "/v1/route", {"query": "Define entropy.", "candidates": candidates, "k": 10})
    assert status == 200 and {r["model_id"] for r in body["results"][0]["ranked"]} == set(candidates)


def test_register_a_model_then_route_to_it_and_find_its_twin(url, trained_store):
    twin = trained_store.model_ids()[5]
    table = trained_store.read_evaluations([twin])
    evaluations = [{"query_id": q, "score": s} for q, s in zip(table.column("query_id").to_pylist(),
                                                                table.column("score").to_pylist(), strict=True)]
    body = {"model_id": "newcomer", "evaluations": evaluations}
    assert call(url, "/v1/embeddings", body)[0] == 401
    assert call(url, "/v1/embeddings", body, token="wrong")[0] == 403
    status, registered = call(url, "/v1/embeddings", body, token=TOKEN)
    assert status == 200 and registered["registered"] and registered["n_evaluations"] == len(evaluations)

    # the same evaluations give the same embedding: the twin is its nearest neighbour
    status, near = call(url, "/v1/models/newcomer/neighbors?k=2")
    assert status == 200 and near["neighbors"][0]["model_id"] == twin and near["neighbors"][0]["distance"] < 1e-4
    status, routed = call(url, "/v1/route", {"query": "Define entropy.", "candidates": ["newcomer"]})
    assert status == 200 and routed["results"][0]["choice"] == "newcomer"

    # refining with a text-only query adds it to the store and re-embeds from every evaluation
    status, refined = call(url, "/v1/embeddings", {"model_id": "newcomer", "evaluations": [
        {"query": "A brand new question about thermodynamics?", "score": 1.0}]}, token=TOKEN)
    assert status == 200 and refined["n_evaluations"] == len(evaluations) + 1
    ids, vectors = trained_store.read_query_embeddings("all-MiniLM-L6-v2")
    stored = vectors[ids.index(adhoc_query_id("A brand new question about thermodynamics?"))]
    exact = encode_texts(["A brand new question about thermodynamics?"])[0]
    assert np.allclose(stored, exact, atol=1e-5)  # stored queries get the exact encoder, not the fast one
    assert "newcomer" in {m["model_id"] for m in call(url, "/v1/models")[1]["models"]}

    # embedding without a model_id is a read: no token, nothing stored
    status, anonymous = call(url, "/v1/embeddings", {"evaluations": evaluations[:50]})
    assert status == 200 and not anonymous["registered"] and len(anonymous["embedding"]) == 32


def test_concurrent_registrations_all_land(url, trained_store):
    """16 registrations at once, 5 new texts each: every one answers 200 and every row is stored."""
    before = {t["table"]: t["rows"] for t in trained_store.info()}
    results: list[int] = []

    def register(i: int) -> None:
        body = {"model_id": f"http-reg-{i}", "evaluations": [
            {"query": f"Concurrent question {k} of registration {i}?", "score": float(k % 2)} for k in range(5)]}
        results.append(call(url, "/v1/embeddings", body, token=TOKEN)[0])

    threads = [threading.Thread(target=register, args=(i,)) for i in range(16)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert results == [200] * 16
    after = {t["table"]: t["rows"] for t in trained_store.info()}
    assert after["queries"] - before["queries"] == 80
    assert after["query_embeddings/all-MiniLM-L6-v2"] - before["query_embeddings/all-MiniLM-L6-v2"] == 80
    assert after["evaluations"] - before["evaluations"] == 80
    assert after["model_embeddings"] - before["model_embeddings"] == 16
    # each LOCUS replica sees the registrations the other one made at its next refresh
    deadline = time.monotonic() + 20
    for _ in range(4):  # both replicas answer some of these
        while not {f"http-reg-{i}" for i in range(16)} <= {m["model_id"] for m in call(url, "/v1/models")[1]["models"]}:
            assert time.monotonic() < deadline, "a replica never saw the other's registrations"
            time.sleep(0.3)


def test_a_rejected_registration_writes_nothing_and_a_second_scorer_breaks_nothing(url, trained_store):
    existing = trained_store.model_ids()[2]
    before = trained_store.table_versions()
    bad = {"model_id": existing, "evaluations": [{"query": "A fine new question?", "score": 1.0},
                                                 {"query_id": "no-such-query", "score": 0.0}]}
    assert call(url, "/v1/embeddings", bad, token=TOKEN)[0] == 404
    assert trained_store.table_versions() == before
    # a model already in the store, sent again through the API: its `api` scores sit beside the
    # benchmark's, and loading the store for training or embedding still works for everyone
    stored = trained_store.read_evaluations([existing]).slice(0, 50)
    again = {"model_id": existing, "evaluations": [{"query_id": q, "score": 1.0 - s} for q, s in zip(
        stored.column("query_id").to_pylist(), stored.column("score").to_pylist(), strict=True)]}
    status, body = call(url, "/v1/embeddings", again, token=TOKEN)
    assert status == 200 and body["n_evaluations"] == trained_store.read_evaluations([existing]).num_rows - 50
    embed_store(trained_store)


def test_compare_gives_distances_and_predicted_disagreement(url, trained_store):
    models = trained_store.model_ids()[:4]
    status, body = call(url, "/v1/compare", {"models": models})
    assert status == 200
    distance, disagreement = np.array(body["distance"]), np.array(body["predicted_disagreement"])
    assert distance.shape == (4, 4) and np.allclose(distance, distance.T) and np.allclose(np.diag(distance), 0)
    assert ((disagreement >= 0) & (disagreement <= 1)).all() and np.allclose(disagreement, disagreement.T)


@pytest.mark.parametrize(("path", "payload", "status", "mentions"), [
    ("/v1/route", b'{"query": "unterminated', 422, "JSON"),
    ("/v1/route", {"query": 5}, 422, "query"),
    ("/v1/route", {"query": "a", "queries": ["b"]}, 422, "exactly one"),
    ("/v1/route", {"queries": ["q"] * 9}, 422, "batch limit"),
    ("/v1/route", {"query": "x" * 501}, 422, "limit of 500"),
    ("/v1/route", {"query": "x" * 70_000}, 413, "exceeds the limit"),
    ("/v1/route", {"query": "a", "candidates": ["no-such-model"]}, 404, "no-such-model"),
    ("/v1/route", {"query": "a", "cost_weight": -1}, 422, "cost_weight"),
    ("/v1/embeddings", {"evaluations": []}, 422, "evaluations"),
    ("/v1/embeddings", {"evaluations": [{"query": "a", "score": 1.5}]}, 422, "score"),
    ("/v1/embeddings", b'{"evaluations": [{"query": "a", "score": NaN}]}', 422, "score"),
    ("/v1/embeddings", {"evaluations": [{"query_id": "no-such-query", "score": 1}]}, 404, "no-such-query"),
    ("/v1/embeddings", {"evaluations": [{"query_id": None, "query": "a", "score": 1}]}, 422, "query_id"),
    ("/v1/embeddings", {"evaluations": [{"query": "a", "score": "high"}]}, 422, "score"),
    ("/v1/embeddings", {"evaluations": [{"query": "a", "score": 1}] * 701}, 422, "limit of 700"),
    ("/v1/route", b"\xff\xfe not text", 400, "parsing the body"),
    ("/v1/compare", {"models": ["no-such-model", "other"]}, 404, "no-such-model"),
    ("/v1/portfolio", {"k": 2, "budget": 3.0}, 422, "exactly one"),
    ("/v1/portfolio", {"k": 0}, 422, "k"),
    ("/v1/portfolio", {"k": 999}, 409, "between 1 and"),
    ("/v1/portfolio", {"k": 2, "method": "vibes"}, 422, "method"),
    ("/v1/portfolio", {"budget": 5.0, "method": "k-center"}, 422, "needs --method coverage"),
])
def test_bad_input_gets_a_4xx_that_says_what_is_wrong(url, path, payload, status, mentions):
    raw = payload if isinstance(payload, bytes) else None
    code, body = call(url, path, None if raw else payload, raw=raw)
    assert code == status, body
    assert mentions in json.dumps(body)
    assert call(url, "/healthz")[0] == 200  # and the server keeps serving


def test_unknown_model_pages_are_404(url):
    assert call(url, "/v1/models/no-such-model")[0] == 404
    assert call(url, "/v1/models/no-such-model/neighbors")[0] == 404
    assert call(url, "/v1/models/x/neighbors?k=0")[0] == 422


def test_every_error_has_the_documented_body(url):
    cases = [("/no-such-path", None, 404), ("/v1/route", "GET", 405), ("/v1/models", "DELETE", 405)]
    for path, method, status in cases:
        code, body = call(url, path, method=method)
        assert code == status and set(body) == {"error"}, body


def test_hostile_tokens_ids_and_bodies_get_4xx_and_the_server_keeps_serving(url):
    import http.client
    from urllib.parse import quote, urlsplit

    route = json.dumps({"query": "a"}).encode()
    for token in ("\u00fcber-geheim".encode(), "\u20ac\u4e2d\U0001f600".encode(), b"\xff\xfe"):
        request = urllib.request.Request(url + "/v1/embeddings", data=json.dumps(
            {"model_id": "m", "evaluations": [{"query": "a", "score": 1}]}).encode(),
            headers={"content-type": "application/json", "authorization": b"Bearer " + token})
        with pytest.raises(urllib.error.HTTPError) as refused:
            urllib.request.urlopen(request, timeout=30)
        assert refused.value.code == 403 and "not valid" in json.loads(refused.value.read())["error"]

    # any text of the schema's 200 characters is a model id: stored under a bounded key
    long_id = "模型-" * 66 + "xy"
    evaluations = [{"query": f"A question for the long id, number {i}?", "score": float(i % 2)} for i in range(3)]
    status, body = call(url, "/v1/embeddings", {"model_id": long_id, "evaluations": evaluations}, token=TOKEN)
    assert status == 200 and body["model_id"] == long_id, body
    status, page = call(url, f"/v1/models/{quote(long_id)}")
    assert status == 200 and page["n_evaluations"] == 3

    # anonymous embedding work is bounded: texts cost encoder passes, the write token lifts the limit
    texts = [{"query": f"Anonymous text {i}", "score": 1.0} for i in range(51)]
    status, body = call(url, "/v1/embeddings", {"evaluations": texts})
    assert status == 403 and "limit of 50" in body["error"]
    assert call(url, "/v1/embeddings", {"evaluations": texts[:50]})[0] == 200
    assert call(url, "/v1/embeddings", {"evaluations": texts}, token=TOKEN)[0] == 200

    # the body limit counts the bytes read: a chunked body without Content-Length is cut off too
    parts = urlsplit(url)
    connection = http.client.HTTPConnection(parts.hostname, parts.port, timeout=30)
    chunk = b'{"query": "' + b"x" * 30_000
    connection.request("POST", "/v1/route", body=iter([chunk, b"x" * 30_000, b"x" * 30_000, b'"}']),
                       headers={"content-type": "application/json"}, encode_chunked=True)
    answer = connection.getresponse()
    assert answer.status == 413 and "exceeds the limit of 64000" in json.loads(answer.read())["error"]
    connection.close()
    assert call(url, "/v1/route", raw=route)[0] == 200


def test_registry_changes_are_seen_without_a_restart(url, trained_store):
    import pyarrow as pa

    source = trained_store.model_ids()[0]
    rows = trained_store.read_evaluations([source]).slice(0, 200)
    copy = rows.set_column(0, "model_id", pa.array(["written-elsewhere"] * rows.num_rows))
    trained_store.write_evaluations(copy)
    embed_store(trained_store, model_ids=["written-elsewhere"])  # e.g. `locus embed` on another machine
    deadline = time.monotonic() + 20
    while "written-elsewhere" not in {m["model_id"] for m in call(url, "/v1/models")[1]["models"]}:
        assert time.monotonic() < deadline, "the new model never appeared"
        time.sleep(0.5)


def test_fast_routing_encoder_predicts_like_the_exact_one(url, trained_store):
    """The served encoder reads 128 word pieces in int8; what it predicts for each (query, model),
    beyond each model's average, follows the exact vectors' predictions."""
    from locus.routing import ModelPool

    pool = ModelPool.load(trained_store)
    queries = trained_store.read_queries().to_pylist()  # benchmark questions, not texts registered above
    texts = [q["text"] for q in queries if len(q["text"]) <= 500 and q["benchmark"] != "adhoc"][:40]
    exact = pool.predict(encode_texts(texts))  # [queries, models]
    served = np.full_like(exact, np.nan)
    for start in range(0, len(texts), 8):
        status, body = call(url, "/v1/route", {"queries": texts[start:start + 8], "k": 100, "min_evaluations": 0})
        assert status == 200, body
        for row, result in enumerate(body["results"]):
            for ranked in result["ranked"]:
                served[start + row, pool.position(ranked["model_id"])] = ranked["p_correct"]
    assert not np.isnan(served).any()
    centred = [p - p.mean(axis=0) for p in (exact, served)]  # the query-dependent part only
    assert np.corrcoef(centred[0].ravel(), centred[1].ravel())[0, 1] > 0.8


def test_openapi_docs_are_served(url):
    status, spec = call(url, "/openapi.json")
    assert status == 200 and "/v1/route" in spec["paths"]


def test_read_token_protects_reads_when_configured(url, trained_store):
    from locus.serve.app import build
    from ray import serve

    settings = ServeSettings(root=str(trained_store.uri), write_token=TOKEN, read_token="reader", **ONE_REPLICA)
    serve.run(build(settings.model_dump()), name="private", route_prefix="/private")  # beside the open app
    try:
        private = url + "/private"
        assert call(private, "/healthz") == (200, {"status": "ok"})  # no version or model count for anyone
        assert set(call(private, "/healthz", token="reader")[1]) == {"status", "version", "encoder", "models"}
        assert call(private, "/v1/models")[0] == 401
        assert call(private, "/v1/models", token="nope")[0] == 403
        assert call(private, "/v1/models", token="reader")[0] == 200
        assert call(private, "/v1/route", {"query": "hi"}, token=TOKEN)[0] == 200  # the write token reads too
        assert call(url, "/v1/models")[0] == 200  # the open app is unaffected
    finally:
        serve.delete("private")


def _scraped() -> dict[str, float]:
    """Every LOCUS series summed over replicas, from this node's Prometheus endpoint."""
    import ray
    from prometheus_client.parser import text_string_to_metric_families

    port = ray.nodes()[0]["MetricsExportPort"]
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=10) as response:
        text = response.read().decode()
    totals: Counter = Counter()
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name.startswith("ray_locus_"):
                keep = {k: v for k, v in sample.labels.items() if k in ("endpoint", "status", "model_id", "outcome")}
                totals[sample.name + json.dumps(keep, sort_keys=True)] += sample.value
    return totals


def test_metrics_move_with_requests(url, trained_store):
    query = "Which metal conducts heat best?"
    before = _scraped()
    for _ in range(4):  # two ingress replicas: each misses its cache once at most
        assert call(url, "/v1/route", {"query": query})[0] == 200
    assert call(url, "/v1/route", {"query": "a", "k": 0})[0] == 422
    evaluations = [{"query": f"A question for the metrics test, number {i}?", "score": 1.0} for i in range(3)]
    assert call(url, "/v1/embeddings", {"model_id": "metered", "evaluations": evaluations}, token=TOKEN)[0] == 200
    expected = {
        'ray_locus_requests_total{"endpoint": "/v1/route", "status": "200"}': 4,
        'ray_locus_requests_total{"endpoint": "/v1/route", "status": "422"}': 1,
        'ray_locus_requests_total{"endpoint": "/v1/embeddings", "status": "200"}': 1,
        'ray_locus_registrations_total{}': 1,
        'ray_locus_encoder_cache_total{"outcome": "hit"}': 2,
        'ray_locus_route_latency_seconds_count{}': 4,
        'ray_locus_encoder_batch_size_count{}': 1,
    }
    deadline = time.monotonic() + 60
    while True:
        now = _scraped()
        moved = {name: now[name] - before[name] for name in expected}
        routed = sum(v - before[k] for k, v in now.items() if k.startswith("ray_locus_routed_total"))
        short = {n: (moved[n], v) for n, v in expected.items() if moved[n] < v}
        if not short and routed >= 4:
            break
        assert time.monotonic() < deadline, (short, routed)
        time.sleep(1)


def test_a_request_over_its_time_budget_answers_504_with_retry_after(url, trained_store):
    from locus.serve.app import build
    from ray import serve

    settings = ServeSettings(root=str(trained_store.uri), request_timeout_s=0.001, **ONE_REPLICA)
    serve.run(build(settings.model_dump()), name="hurried", route_prefix="/hurried")
    try:
        request = urllib.request.Request(url + "/hurried/v1/models")
        with pytest.raises(urllib.error.HTTPError) as late:
            urllib.request.urlopen(request, timeout=30)
        assert late.value.code == 504 and late.value.headers["Retry-After"] == "1"
        assert "budget of 0.001 s" in json.loads(late.value.read())["error"]
    finally:
        serve.delete("hurried")
    assert call(url, "/v1/models")[0] == 200


def test_the_openapi_document_is_the_contract(url, tmp_path):
    """schemathesis with every check against the live app: no 5xx, every status and body as
    documented, schema-valid requests accepted and invalid ones refused."""
    import subprocess
    import sys
    from pathlib import Path

    st = Path(sys.executable).parent / "st"
    config = Path(__file__).with_name("schemathesis.toml")
    run = subprocess.run([str(st), "--config-file", str(config), "run", f"{url}/openapi.json", "--checks", "all",
                          # `all` also times every response, against 10 s by default: latency is the
                          # serve benchmarks' business, not the contract's (a busy CI machine took
                          # over 10 s once), so the limit is above the 30 s request timeout
                          "--max-response-time", "60",
                          "--max-examples", "30",
                          "--seed", "7", "--header", f"Authorization: Bearer {TOKEN}", "--request-timeout", "30",
                          "--report", "junit", "--report-junit-path", str(tmp_path / "junit.xml")],
                         capture_output=True, text=True, timeout=900, cwd=tmp_path,  # for hypothesis's database
                         env={"NO_COLOR": "1", "PATH": "/usr/bin:/bin", "HOME": str(tmp_path)})
    summary = run.stdout[-6000:]
    print(summary)
    assert run.returncode == 0, summary


def _replicas(deployment: str) -> set[tuple[str, str]]:
    import ray

    return {(a["name"], a["namespace"]) for a in ray.util.list_named_actors(all_namespaces=True)
            if f"#{deployment}#" in a["name"] and a["name"].startswith("SERVE_REPLICA")
            and "#private#" not in a["name"]}


@pytest.mark.parametrize("method", ["k-center", "k-medoids", "coverage"])
def test_portfolio_of_k_distinct_models(url, method):
    status, body = call(url, "/v1/portfolio", {"k": 3, "method": method})
    assert status == 200, body
    chosen = [m["model_id"] for m in body["models"]]
    known = {m["model_id"] for m in call(url, "/v1/models")[1]["models"]}
    assert len(set(chosen)) == 3 and set(chosen) <= known
    assert 0 < body["predicted_routing_acc"] <= body["predicted_pool_routing_acc"] + 1e-9


def test_portfolio_within_a_budget_needs_prices_and_respects_them(url, trained_store):
    import pyarrow as pa

    models = [m["model_id"] for m in call(url, "/v1/models")[1]["models"]]
    status, body = call(url, "/v1/portfolio", {"budget": 10.0})
    assert status == 409 and "cost" in body["error"]  # the sample store has no prices yet
    prices = [float(1 + i % 5) for i in range(len(models))]
    trained_store.write_models(pa.table({"model_id": models, "params_b": prices}))
    time.sleep(0.5)  # past refresh_seconds: the deployment reloads the models table
    status, body = call(url, "/v1/portfolio", {"budget": 6.0})
    assert status == 200, body
    assert sum(m["cost"] for m in body["models"]) <= 6.0 and len(body["models"]) >= 2


@pytest.mark.parametrize("deployment", ["LocusModel", "Ingress"])
def test_a_killed_replica_is_replaced_while_requests_keep_coming(url, deployment):
    """The ingress is the replica HAProxy sends HTTP to; LocusModel sits behind a handle. Two replicas
    of each by default: the other one answers while Serve replaces the dead one."""
    import ray

    replicas = _replicas(deployment)
    assert replicas
    outcomes: list[int | str] = []
    stop = threading.Event()

    def stream() -> None:
        body = json.dumps({"query": "Which planet is largest?"}).encode()
        while not stop.is_set():
            request = urllib.request.Request(url + "/v1/route", data=body, headers={"content-type": "application/json"})
            try:
                with urllib.request.urlopen(request, timeout=30) as response:
                    outcomes.append(response.status)
            except urllib.error.HTTPError as exc:  # while no ingress is up, HAProxy answers 503 in HTML
                outcomes.append(exc.code)
            except OSError as exc:  # or the connection itself fails
                outcomes.append(type(exc).__name__)

    thread = threading.Thread(target=stream)
    thread.start()
    time.sleep(1.0)
    name, namespace = sorted(replicas)[0]
    ray.kill(ray.get_actor(name, namespace=namespace), no_restart=True)
    deadline = time.monotonic() + 90
    while not (_replicas(deployment) - replicas):  # until Serve has started a replacement
        assert time.monotonic() < deadline, "Serve did not replace the killed replica"
        time.sleep(0.5)
    while (replaced := _replicas(deployment)) and (name, namespace) in replaced:
        time.sleep(0.5)
    settled = len(outcomes)
    while len(outcomes) < settled + 20:
        assert time.monotonic() < deadline, "no requests answered after the replacement"
        time.sleep(0.2)
    stop.set()
    thread.join()
    failed = Counter(code for code in outcomes if code != 200)
    print(f"{deployment} replica killed during {len(outcomes)} requests: {sum(failed.values())} failed {dict(failed)}")
    assert outcomes[settled + 5:] == [200] * (len(outcomes) - settled - 5)  # served by the replacement
    if deployment == "LocusModel":  # behind a handle: the ingress sends a call its replica died with again
        assert not failed, failed
