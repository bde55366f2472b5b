"""The routed gateway for real: two tiny Llamas served by real vLLM (CPU build), one hosted in the
cluster by Ray Serve LLM and one by an external `vllm serve` OpenAI server that answers under two
model names, behind the gateway over HTTP, called with the `openai` client. Routing, streaming,
policies, pass-through, OpenAI-style errors, and fallback to the nearest neighbour when a backend
dies (that test kills the external server, so it runs last)."""

from __future__ import annotations

import concurrent.futures
import json
import os
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import numpy as np
import openai
import pyarrow as pa
import pytest
import yaml
from locus.serve.gateway_settings import GatewaySettings
from locus.serve.run import gateway_serving

from locus.routing import ModelPool
from tests.jobs.tiny_llm import build_tiny_llama
from tests.serve.test_app import _free_port

pytestmark = pytest.mark.slow  # starts Ray, Serve and three vLLM engines

ENGINE = {"max_model_len": 512, "enforce_eager": True, "dtype": "float32"}
QUESTION = "Question 7: what is 7 plus 4? The answer is"
LONG = {"ignore_eos": True}  # vLLM's own field: a random tiny model may stop at once otherwise
WRITE_TOKEN = "gateway-write-token"
ONBOARDED, ONBOARD_BUDGET = "tiny-onboarded", 32
DRIFT_BENCHMARK = {"name": "mmlu-pro", "prompt": "{text}\nAnswer:", "scorer": {"name": "exact"}}
DRIFT_SAMPLING = {"temperature": 0.0, "max_tokens": 4, "ignore_eos": True}


@pytest.fixture(scope="module")
def pool_models(trained_store_template, tmp_path_factory):
    """The store, and three of its models with prices: `cheap` and `mid` answer on the external
    server (`mid` found through its models-table row), `hosted` on Ray Serve LLM. `hosted` is
    registered from 16 evaluations (the others rest on the slice's 600)."""
    import shutil

    from locus.api import EmbeddingRequest
    from locus.service import PoolService
    from locus.store import Store

    root = tmp_path_factory.mktemp("gateway") / "store"
    shutil.copytree(trained_store_template, root)
    store = Store(root)
    ids = store.read_model_embeddings().column("model_id").to_pylist()
    copied = store.read_evaluations([ids[2]]).slice(0, 16).to_pylist()
    PoolService(store).embed(EmbeddingRequest(model_id="tiny-hosted", evaluations=[
        {"query_id": e["query_id"], "score": e["score"]} for e in copied]))
    names = {"cheap": ids[0], "mid": ids[1], "hosted": "tiny-hosted"}
    store.write_models(pa.table({"model_id": list(names.values()), "cost_per_1k_tokens": [0.1, 0.5, 1.0]}))
    return store, names


@pytest.fixture(scope="module")
def external(pool_models, tmp_path_factory):
    """`vllm serve` of a tiny Llama under the names of `cheap` and `mid`, in its own process group;
    started here and awaited by `gateway`, so that it loads while the cluster starts."""
    _, names = pool_models
    weights = build_tiny_llama(tmp_path_factory.mktemp("tiny-external"), seed=1)
    port = _free_port()
    log = open(tmp_path_factory.mktemp("vllm-log") / "vllm.log", "w")  # noqa: SIM115 (closed below)
    server = subprocess.Popen(
        [sys.executable, "-m", "vllm.entrypoints.openai.api_server", "--model", str(weights), "--host", "127.0.0.1",
         "--port", str(port), "--served-model-name", names["cheap"], names["mid"], "--max-model-len", "512",
         "--enforce-eager", "--dtype", "float32"],
        env=os.environ | {"VLLM_CPU_KVCACHE_SPACE": "1"}, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    try:
        yield server, f"http://127.0.0.1:{port}/v1", log.name, weights
    finally:
        if server.poll() is None:
            os.killpg(server.pid, signal.SIGKILL)
        server.wait()
        log.close()


def _wait_until_up(server: subprocess.Popen, url: str, log: str) -> None:
    deadline = time.monotonic() + 300
    while True:
        try:
            urllib.request.urlopen(url + "/models", timeout=2).read()
            return
        except (urllib.error.URLError, ConnectionError):
            assert server.poll() is None and time.monotonic() < deadline, f"vllm serve did not start: {log}"
            time.sleep(1)


@pytest.fixture(scope="module")
def drift_config(pool_models, external, tmp_path_factory):
    """The evaluation config `tiny-served` is evaluated with (by the drift test): the gateway's drift
    checks ask with it."""
    store, _ = pool_models
    path = tmp_path_factory.mktemp("drift") / "eval.yaml"
    path.write_text(yaml.safe_dump({"root": str(store.uri), "models": [{"id": "tiny-served", "path": str(external[3])}],
                                    "benchmarks": [DRIFT_BENCHMARK], "sampling": DRIFT_SAMPLING}))
    return path


@pytest.fixture(scope="module")
def gateway(pool_models, external, drift_config, tmp_path_factory):
    store, names = pool_models
    server, external_url, log, weights = external
    hosted = build_tiny_llama(tmp_path_factory.mktemp("tiny-hosted"), seed=2)
    store.write_models(pa.table({"model_id": [names["mid"]], "cost_per_1k_tokens": [0.5], "served_at": [external_url]}))
    os.environ["RAY_AUTH_MODE"] = "disabled"
    onboarding = tmp_path_factory.mktemp("onboarding") / "eval.yaml"  # what POST /v1/models evaluates with
    onboarding.write_text(yaml.safe_dump({
        "root": str(store.uri), "models": [{"id": ONBOARDED, "path": str(weights), "engine": ENGINE}],
        "benchmarks": [{"name": "mmlu-pro", "prompt": "{text}\nAnswer: the answer is (", "scorer": {"name": "choice"}}],
        "sampling": {"temperature": 0.0, "max_tokens": 4},
        "resources": {"engines": 1, "cpus_per_engine": 1, "batch_size": 1, "chunk_size": 1}}))
    settings = GatewaySettings(
        root=str(store.uri), read_token=None, write_token=WRITE_TOKEN, min_evaluations=0,
        encoder={"min_replicas": 1, "max_replicas": 1}, locus={"min_replicas": 1, "max_replicas": 1},
        ingress={"min_replicas": 1, "max_replicas": 1}, max_prompt_chars=4000, retry_down_s=60, refresh_seconds=1,
        onboarding={"config": str(onboarding), "budget": ONBOARD_BUDGET},
        drift={"every_s": 3600, "config": str(drift_config), "probes": 16},  # (the test checks on demand)
        backends=[{"model_id": names["cheap"], "base_url": external_url, "timeout_s": 30},
                  {"model_id": names["hosted"], "timeout_s": 30,
                   "serve_llm": {"model_source": str(hosted), "engine_kwargs": ENGINE, "accelerator": "cpu",
                                 "cpus": 0.5}}])
    with gateway_serving(settings, port=_free_port(), num_cpus=6) as url:
        _wait_until_up(server, external_url, log)
        yield url


@pytest.fixture
def client(gateway):
    return openai.OpenAI(base_url=gateway + "/v1", api_key="unused", max_retries=0, timeout=60)


def test_models_lists_the_alias_and_every_backend(client, pool_models):
    _, names = pool_models
    listed = [m.id for m in client.models.list()]
    assert listed[0] == "locus/auto" and sorted(listed[1:]) == sorted(names.values())


def test_auto_routes_a_chat_to_the_model_locus_chose(client, pool_models):
    _, names = pool_models
    raw = client.chat.completions.with_raw_response.create(
        model="locus/auto", messages=[{"role": "system", "content": "Answer briefly."},
                                      {"role": "user", "content": QUESTION}], max_tokens=8, temperature=0,
        extra_body=LONG)
    answer = raw.parse()
    chosen = raw.headers["x-locus-model"]
    print(f"\nrouted to {chosen} (p={raw.headers['x-locus-p-correct']}, runner-up "
          f"{raw.headers['x-locus-runner-up']}, routing {raw.headers['x-locus-route-ms']} ms)")
    assert chosen in names.values() and answer.model == chosen and answer.id
    assert answer.choices[0].message.content and answer.usage.completion_tokens > 0
    extra = answer.model_extra["locus"]
    assert extra["model"] == chosen and 0 < extra["p_correct"] < 1 and extra["fallbacks"] == []
    assert extra["runner_up"] in names.values() and extra["runner_up"] != chosen
    assert float(raw.headers["x-locus-route-ms"]) == pytest.approx(extra["route_ms"], abs=1e-3)


def test_streaming_chat_and_text_completions(client, pool_models):
    _, names = pool_models
    raw = client.chat.completions.with_raw_response.create(
        model="locus/auto", messages=[{"role": "user", "content": QUESTION}], max_tokens=8, temperature=0,
        stream=True, extra_body=LONG)
    chunks = list(raw.parse())
    assert raw.headers["x-locus-model"] in names.values() and raw.headers["content-type"].startswith("text/event")
    assert len(chunks) >= 2 and "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    text = client.completions.create(model="locus/auto", prompt=QUESTION, max_tokens=4, temperature=0)
    assert text.model in names.values() and text.choices[0].text is not None
    several = client.chat.completions.create(model="locus/auto", messages=[{"role": "user", "content": QUESTION}],
                                             max_tokens=2, n=2)  # n goes to the chosen backend as sent
    assert len(several.choices) == 2


def test_the_request_policy_picks_the_cheaper_model_or_a_candidate(client, pool_models):
    _, names = pool_models
    messages = [{"role": "user", "content": QUESTION}]
    cheapest = client.chat.completions.create(model="locus/auto", messages=messages, max_tokens=2,
                                              extra_body={"locus": {"min_p": 0.0}})
    assert cheapest.model == names["cheap"]
    priced = client.chat.completions.create(model="locus/auto", messages=messages, max_tokens=2,
                                            extra_body={"locus": {"cost_weight": 10.0}})
    assert priced.model == names["cheap"]
    only = client.chat.completions.create(model="locus/auto", messages=messages, max_tokens=2,
                                          extra_body={"locus": {"candidates": [names["hosted"]]}})
    assert only.model == names["hosted"]


def test_a_model_name_passes_through_unrouted(client, pool_models):
    _, names = pool_models
    raw = client.chat.completions.with_raw_response.create(
        model=names["mid"], messages=[{"role": "user", "content": QUESTION}], max_tokens=2)
    assert raw.parse().model == names["mid"] and raw.headers["x-locus-model"] == names["mid"]
    assert "x-locus-p-correct" not in raw.headers


@pytest.mark.parametrize(("body", "status", "param"), [
    ({"model": "no-such-model", "messages": [{"role": "user", "content": "hi"}]}, 404, "model"),
    ({"model": "locus/auto", "messages": []}, 400, "messages"),
    ({"model": "locus/auto", "messages": [{"role": "robot", "content": "hi"}]}, 400, "messages.0.role"),
    ({"model": "locus/auto", "messages": [{"role": "user", "content": "x" * 5000}]}, 400, "messages"),
    ({"model": "locus/auto", "messages": [{"role": "user", "content": "hi"}], "locus": {"min_p": 2}}, 400,
     "locus.min_p"),
    ({"model": "locus/auto", "messages": [{"role": "user", "content": "hi"}], "locus": {"candidates": ["ghost"]}},
     400, "locus.candidates"),
    ({"model": "locus/auto", "prompt": ["one", "two"]}, 400, "prompt"),
])
def test_bad_requests_get_openai_style_errors(gateway, body, status, param):
    path = "/v1/completions" if "prompt" in body else "/v1/chat/completions"
    request = urllib.request.Request(gateway + path, data=json.dumps(body).encode(),
                                     headers={"content-type": "application/json"})
    with pytest.raises(urllib.error.HTTPError) as caught:
        urllib.request.urlopen(request, timeout=30)
    error = json.loads(caught.value.read())["error"]
    assert caught.value.code == status and error["param"] == param and error["message"] and error["type"]


def test_bad_requests_raise_the_openai_clients_errors(client):
    with pytest.raises(openai.NotFoundError):
        client.chat.completions.create(model="no-such-model", messages=[{"role": "user", "content": "hi"}])
    with pytest.raises(openai.BadRequestError, match="context_length_exceeded|exceed"):
        client.chat.completions.create(model="locus/auto", messages=[{"role": "user", "content": "x" * 5000}])


def test_the_readme_example_runs_as_written(gateway, capsys):
    """The Python block under "### Gateway" in README.md, verbatim but for the gateway's address."""
    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text()
    block = readme.split("### Gateway", 1)[1].split("```python\n", 1)[1].split("```", 1)[0]
    exec(block.replace("http://127.0.0.1:8000", gateway), {})  # noqa: S102 (our own README)
    model, p_correct, *_ = capsys.readouterr().out.split()
    assert 0 < float(p_correct) < 1 and model


def _call(url: str, body: dict | None = None, token: str | None = WRITE_TOKEN) -> tuple[int, dict]:
    """POST `body` (GET without one) to `url`: the status and the JSON answer, errors included."""
    request = urllib.request.Request(url, data=None if body is None else json.dumps(body).encode(), headers={
        "content-type": "application/json", **({"authorization": f"Bearer {token}"} if token else {})})
    try:
        with urllib.request.urlopen(request, timeout=60) as reply:
            return reply.status, json.loads(reply.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read())


def _feedback(gateway: str, body: dict, token: str | None = WRITE_TOKEN) -> tuple[int, dict]:
    return _call(gateway + "/v1/feedback", body, token)


def test_feedback_refines_the_answering_model_without_a_restart(client, gateway, pool_models):
    """Every answer carries an id; feedback on it (write token) stores an evaluation of the model that
    answered, on the routed text as a query, and embeds the model again: 8 rows move `hosted` (16
    evaluations) and lower its routed p(correct) at once, and barely move `cheap` (600)."""
    import pyarrow.compute as pc

    from locus.registration import adhoc_query_id

    store, names = pool_models
    raw = client.chat.completions.with_raw_response.create(
        model="locus/auto", messages=[{"role": "user", "content": QUESTION}], max_tokens=2)
    assert raw.parse().id == raw.headers["x-locus-response-id"] and raw.parse().id.startswith("locus-")
    streamed = client.chat.completions.with_raw_response.create(
        model="locus/auto", messages=[{"role": "user", "content": QUESTION}], max_tokens=2, stream=True)
    list(streamed.parse())
    assert streamed.headers["x-locus-response-id"].startswith("locus-")
    assert client.completions.create(model=names["cheap"], prompt=QUESTION, max_tokens=2).id.startswith("locus-")

    def routed_p() -> float:
        answer = client.chat.completions.with_raw_response.create(
            model="locus/auto", messages=[{"role": "user", "content": QUESTION}], max_tokens=1,
            extra_body={"locus": {"candidates": [names["hosted"]]}})
        return answer.parse().model_extra["locus"]["p_correct"]  # (the header rounds it to 4 decimals)

    def embedding(model: str) -> np.ndarray:
        table = store.read_model_embeddings()
        return np.asarray(table.filter(pc.equal(table.column("model_id"), model)).column("vector")[0].as_py())

    texts = [f"Feedback question {i}: name a prime number larger than {10 * i}." for i in range(8)]
    p_before, before = routed_p(), {m: embedding(names[m]) for m in ("hosted", "cheap")}
    answered = {m: [client.chat.completions.create(model=names[m], messages=[{"role": "user", "content": t}],
                                                   max_tokens=2).id for t in texts] for m in ("hosted", "cheap")}
    assert _feedback(gateway, {"response_id": answered["hosted"][0], "score": 1.0}, token=None)[0] == 401
    assert _feedback(gateway, {"response_id": answered["hosted"][0], "score": 1.0}, token="not-it")[0] == 403
    assert _feedback(gateway, {"response_id": "locus-20260101-" + "0" * 32, "score": 1.0})[0] == 404
    status, error = _feedback(gateway, {"response_id": answered["hosted"][0], "score": 2})
    assert status == 400 and error["error"]["param"] == "score"
    for model, ids in answered.items():
        for response_id in ids:
            status, body = _feedback(gateway, {"response_id": response_id, "score": 0.0})  # a thumbs down
            assert status == 200 and body["model_id"] == names[model], body
    assert body["n_evaluations"] == 600 + len(texts)

    moved = {m: float(np.linalg.norm(embedding(names[m]) - before[m])) for m in before}
    deadline = time.monotonic() + 10  # the LOCUS replicas look for registry changes every refresh_seconds
    while (p_after := routed_p()) == p_before and time.monotonic() < deadline:
        time.sleep(0.5)
    print(f"\n8 feedback rows moved hosted (16 evaluations) by {moved['hosted']:.3f}, cheap (600) by "
          f"{moved['cheap']:.4f}; hosted's routed p(correct) {p_before:.5f} -> {p_after:.5f}")
    # 8 rows are a third of hosted's evidence and 1.3% of cheap's. Over ten draws of a model and its rows
    # (full MMLU-Pro, benchmarks/README.md, refinement) the ratio of the moves had a median of 15 and a
    # minimum of 5.7; this fixture's draw gave 10.0
    assert moved["hosted"] > 5 * moved["cheap"] and p_after < p_before
    rows = store.read_evaluations([names["hosted"]])
    fed = rows.filter(pc.equal(rows.column("scorer"), "feedback"))
    assert sorted(fed.column("query_id").to_pylist()) == sorted(adhoc_query_id(t) for t in texts)
    queries = store.read_queries()
    assert set(texts) <= set(queries.column("text").to_pylist())
    time.sleep(2)  # every answer is in the store's responses table within feedback_flush_s (1 s)
    kept = set(store.table("responses").read(columns=["response_id"]).column("response_id").to_pylist())
    assert {*answered["hosted"], *answered["cheap"]} <= kept


def test_one_call_onboarding_through_the_gateway_killed_mid_way_registers_nothing_and_a_retry_routes_to_it(
        client, gateway, external, pool_models):
    """`POST /v1/models` runs `locus onboard --run` as a Ray job: the seed-1 weights (which the external
    server serves under cheap's name) are evaluated on the picked queries with vLLM, embedded and
    registered. Killed (SIGKILL) after its first evaluations, the job leaves the model unregistered; submitted
    again, it evaluates only what the budget lacks, and the gateway routes to the model without a
    restart. Taking its served_at away takes it out of the gateway again."""
    import pyarrow.compute as pc
    import ray
    from ray.job_submission import JobSubmissionClient

    store, names = pool_models
    _, external_url, _, weights = external
    request = {"model_id": ONBOARDED, "model": str(weights), "served_at": external_url, "served_name": names["cheap"]}
    assert _call(gateway + "/v1/models", request, token=None)[0] == 401
    assert _call(gateway + "/v1/models", request | {"budget": 0})[0] == 400
    assert _call(gateway + "/v1/onboarding/no-such-job", token=None)[0] == 404

    def follow(job_id: str, until) -> dict:
        deadline = time.monotonic() + 300
        while True:
            status, body = _call(gateway + f"/v1/onboarding/{job_id}", token=None)
            assert status == 200 and time.monotonic() < deadline, body
            if until(body):
                return body
            assert body["status"] not in ("FAILED", "STOPPED"), "\n".join(body["log_tail"])
            time.sleep(0.2)

    status, first = _call(gateway + "/v1/models", request)
    assert status == 202 and first["model_id"] == ONBOARDED and first["status"] in ("PENDING", "RUNNING"), first
    status, busy = _call(gateway + "/v1/models", request)
    assert status == 409 and busy["error"]["param"] == "model_id"
    jobs = JobSubmissionClient(ray.get_runtime_context().gcs_address)
    deadline, polls = time.monotonic() + 300, 0
    while store.read_evaluations([ONBOARDED], missing_ok=True).num_rows == 0:
        polls += 1
        assert time.monotonic() < deadline and (polls % 20 or follow(first["id"], lambda b: True)["status"] != "FAILED")
        time.sleep(0.1)
    driver = int(jobs.get_job_info(first["id"]).driver_info.pid)  # `locus onboard`, connected to the cluster
    os.killpg(os.getpgid(driver), signal.SIGKILL)  # a crash: the job's processes die at once, its vLLM engine with them
    assert follow(first["id"], lambda b: b["status"] in ("STOPPED", "FAILED", "SUCCEEDED"))["status"] == "FAILED"
    evaluated = store.read_evaluations([ONBOARDED], missing_ok=True).num_rows
    assert 0 < evaluated < ONBOARD_BUDGET
    assert ONBOARDED not in store.read_model_embeddings().column("model_id").to_pylist()  # nothing registered
    assert ONBOARDED not in [m.id for m in client.models.list()]

    started = time.monotonic()
    status, again = _call(gateway + "/v1/models", request)
    assert status == 202, again
    done = follow(again["id"], lambda b: b["routable"] and b["status"] == "SUCCEEDED")  # (routable first, often)
    took = time.monotonic() - started
    print(f"\nkilled after {evaluated} of {ONBOARD_BUDGET} evaluations; the retry took {took:.0f} s to a routed "
          f"model and said: " + " | ".join(done["log_tail"][-2:]))
    evaluations = store.read_evaluations([ONBOARDED])
    assert evaluations.num_rows == ONBOARD_BUDGET == len(set(evaluations.column("query_id").to_pylist()))
    embedded = store.read_model_embeddings()
    assert embedded.filter(pc.equal(embedded.column("model_id"), ONBOARDED)).column("n_evaluations").to_pylist() == [
        ONBOARD_BUDGET]
    assert ONBOARDED in [m.id for m in client.models.list()]
    routed = client.chat.completions.with_raw_response.create(
        model="locus/auto", messages=[{"role": "user", "content": QUESTION}], max_tokens=2,
        extra_body={"locus": {"candidates": [ONBOARDED]}})
    assert routed.headers["x-locus-model"] == ONBOARDED and routed.parse().choices[0].message.content is not None

    store.write_models(pa.table({"model_id": [ONBOARDED], "served_at": pa.nulls(1, pa.string())}))
    deadline = time.monotonic() + 30
    while ONBOARDED in [m.id for m in client.models.list()]:  # (the tests after this one expect their backends)
        assert time.monotonic() < deadline, "the gateway still serves a model the models table no longer does"
        time.sleep(0.5)


def test_drift_flags_a_backend_whose_weights_were_swapped_and_not_an_unchanged_one(gateway, client, external,
                                                                                    pool_models, drift_config,
                                                                                    tmp_path):
    """`tiny-served` is evaluated through the external server (exact match, on answers that the
    seed-1 weights give for half of 40 queries) and registered. `locus drift` asks that server again
    (unchanged: not flagged) and the hosted seed-2 weights under its name (swapped: flagged, exit 1).
    Then the gateway serves it (its models row) and checks it on demand (POST /v1/drift): not
    flagged, until the row points its name at the seed-2 weights."""
    from typer.testing import CliRunner

    from locus.cli import app
    from locus.drift import ask_backend
    from locus.embedding import embed_store
    from locus.prompts import build_prompts
    from locus.scorers import text_scorer

    store, names = pool_models
    _, external_url, _, _ = external
    hosted_url = f"{gateway}/serve-llm/v1"
    queries = store.read_queries()
    queries = queries.take(np.argsort([len(t) for t in queries.column("text").to_pylist()], kind="stable")[:40])
    queries = queries.sort_by("query_id")  # the 40 shortest: the tiny models read 512 tokens at most
    said = ask_backend(external_url, names["cheap"], build_prompts(queries, DRIFT_BENCHMARK["prompt"]), DRIFT_SAMPLING)
    answers = [s if i % 2 == 0 else "no model says this" for i, s in enumerate(said)]
    queries = queries.set_column(queries.schema.get_field_index("answer"), "answer", pa.array(answers, pa.string()))
    store.write_queries(queries)
    exact = text_scorer("exact")
    store.write_evaluations(pa.table({
        "model_id": ["tiny-served"] * 40, "query_id": queries.column("query_id"),
        "score": pa.array([exact.score(o, a) for o, a in zip(said, answers, strict=True)], pa.float32()),
        "scorer": ["exact"] * 40, "source": ["test: the external server"] * 40}))
    embed_store(store, model_ids=["tiny-served"])

    def drift(base_url: str, served_name: str) -> tuple[int, dict]:
        out = tmp_path / f"drift-{served_name}.json"
        result = CliRunner().invoke(app, ["drift", "--root", str(store.uri), "--model", "tiny-served", "--base-url",
                                          base_url, "--served-name", served_name, "--config", str(drift_config),
                                          "--probes", "16", "--out", str(out)], catch_exceptions=False)
        print(result.output)
        return result.exit_code, json.loads(out.read_text())

    code, report = drift(external_url, names["cheap"])
    assert code == 0 and not report["flagged"], report  # (vLLM's batching may flip a rare greedy token)
    code, report = drift(hosted_url, names["hosted"])
    assert code == 1 and report["flagged"] and report["changed"] > 0.2, report

    def served(url: str | None, name: str | None) -> None:
        store.write_models(pa.table({"model_id": ["tiny-served"], "served_at": pa.array([url], pa.string()),
                                     "served_name": pa.array([name], pa.string())}))
        deadline = time.monotonic() + 30
        while ("tiny-served" in [m.id for m in client.models.list()]) != (url is not None):
            assert time.monotonic() < deadline, "the gateway did not follow the models table"
            time.sleep(0.5)

    served(external_url, names["cheap"])
    assert _call(gateway + "/v1/drift", {"models": ["tiny-served"]}, token=None)[0] == 401
    assert _call(gateway + "/v1/drift", {"models": ["ghost"]})[0] == 400
    status, checked = _call(gateway + "/v1/drift", {"models": ["tiny-served"]})
    assert status == 200 and [r["model_id"] for r in checked["data"]] == ["tiny-served"], checked
    assert not checked["data"][0]["flagged"] and checked["data"][0]["served_at"] == external_url, checked
    served(hosted_url, names["hosted"])  # the same name, other weights behind it
    status, checked = _call(gateway + "/v1/drift", {"models": ["tiny-served"]})
    assert status == 200 and checked["data"][0]["flagged"] and checked["data"][0]["served_at"] == hosted_url, checked
    status, latest = _call(gateway + "/v1/drift", token=None)
    assert status == 200 and {r["model_id"]: r.get("flagged") for r in latest["data"]}["tiny-served"]
    served(None, None)  # (the last test expects its backends only)


def test_a_killed_backend_falls_back_to_its_nearest_neighbour_without_a_failed_request(
        client, external, pool_models):
    """Runs last: the external server (cheap and mid) dies; every request is still answered."""
    store, names = pool_models
    server, *_ = external
    os.killpg(server.pid, signal.SIGKILL)
    server.wait()
    pool = ModelPool.load(store)
    cheap, others = names["cheap"], [names["mid"], names["hosted"]]
    nearest = others[int(np.argmin([np.linalg.norm(pool.z[pool.position(m)] - pool.z[pool.position(cheap)])
                                    for m in others]))]

    def ask(_: int):
        return client.chat.completions.with_raw_response.create(
            model="locus/auto", messages=[{"role": "user", "content": QUESTION}], max_tokens=2,
            extra_body={"locus": {"min_p": 0.0}})

    first = ask(0)
    failed = first.headers["x-locus-failed"].split(",")
    print(f"\n{cheap} killed: tried {failed}, answered by {first.headers['x-locus-model']}; nearest was {nearest}")
    assert first.parse().model == names["hosted"]  # the only live backend
    assert failed == ([cheap, nearest] if nearest == names["mid"] else [cheap])
    assert first.headers["x-locus-proxy-for"] == cheap
    with concurrent.futures.ThreadPoolExecutor(4) as threads:
        answers = list(threads.map(ask, range(8)))
    assert all(a.parse().model == names["hosted"] for a in answers)
    later = ask(0)  # the dead backends are now skipped: no failed attempt, the proxy answers at once
    assert later.headers["x-locus-fallbacks"] == "0" and later.headers["x-locus-proxy-for"] == cheap
