"""The gateway's settings and request parsing, without a cluster: the shipped configs validate, bad
ones fail naming the field (before anything starts), policies merge, and the routed text is the
part of a chat the settings name."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from locus.serve.gateway import Message, routed_text
from locus.serve.gateway_settings import GatewaySettings, RoutingPolicy, load_gateway_settings
from pydantic import ValidationError
from typer.testing import CliRunner

from locus.cli import app

ROOT = Path(__file__).resolve().parents[2]


def test_the_shipped_configs_are_valid_gateway_settings():
    local = load_gateway_settings(ROOT / "configs" / "gateway.yaml")
    assert local.alias == "locus/auto" and len(local.backends) == 3
    assert local.base_url(local.backends[0]) == "http://127.0.0.1:8000/serve-llm/v1"  # the Serve LLM app
    assert local.base_url(local.backends[1]) == "http://127.0.0.1:8001/v1"
    service = yaml.safe_load((ROOT / "platform" / "k8s" / "rayservice-gateway.yaml").read_text())
    for deployed in (yaml.safe_load((ROOT / "serve" / "gateway.yaml").read_text())["applications"],
                     yaml.safe_load(service["spec"]["serveConfigV2"])["applications"]):
        assert {a["import_path"] for a in deployed} == {"locus.serve.gateway_app:build_models",
                                                         "locus.serve.gateway_app:build_gateway"}
        for application in deployed:
            GatewaySettings.model_validate(application["args"])


@pytest.mark.parametrize(("backends", "field"), [
    ([{"model_id": "a"}], "exactly one of base_url or serve_llm"),
    ([{"model_id": "a", "base_url": "ftp://x"}], "base_url"),
    ([{"model_id": "a", "base_url": "http://x/v1"}, {"model_id": "a", "base_url": "http://y/v1"}], "more than once"),
    ([{"model_id": "locus/auto", "base_url": "http://x/v1"}], "alias"),
])
def test_bad_backends_are_refused_naming_the_field(backends, field):
    with pytest.raises(ValidationError, match=field):
        GatewaySettings(root="/tmp/store", backends=backends)


def test_models_served_at_a_url_join_the_configured_backends(store):
    import pyarrow as pa
    from locus.serve.gateway_backends import with_table_backends

    from locus.errors import LocusDataError

    with pytest.raises(LocusDataError, match="served_at"):
        with_table_backends(GatewaySettings(root=str(store.uri)))
    store.write_models(pa.table({"model_id": ["a", "b", "c"],
                                 "served_at": ["http://10.0.0.5:8000/v1", "in-house cluster", "http://10.0.0.6/v1"]}))
    configured = GatewaySettings(root=str(store.uri), backends=[{"model_id": "c", "base_url": "http://other/v1"}])
    backends = {b.model_id: b.base_url for b in with_table_backends(configured).backends}
    assert backends == {"c": "http://other/v1", "a": "http://10.0.0.5:8000/v1"}  # the config wins; no URL, no backend


def test_the_cli_refuses_a_bad_config_before_starting_anything(tmp_path):
    config = tmp_path / "gateway.yaml"
    config.write_text("root: /nowhere\nbackends: [{model_id: a, base_url: http://x/v1, timeout_s: -1}]\n")
    result = CliRunner().invoke(app, ["gateway", "--config", str(config)])
    assert result.exit_code == 2 and "timeout_s" in result.output


def test_a_request_policy_overrides_only_the_fields_it_sets():
    defaults = RoutingPolicy(cost_weight=2.0, min_p=0.5)
    merged = defaults.merged(RoutingPolicy.model_validate({"min_p": 0.8}))
    assert merged.min_p == 0.8 and merged.cost_weight == 2.0 and defaults.merged(None) is defaults
    with pytest.raises(ValidationError, match="min_p"):
        RoutingPolicy.model_validate({"min_p": 1.5})


def test_the_routed_text_is_the_part_of_the_chat_the_settings_name():
    chat = [Message(role="system", content="Be brief."), Message(role="user", content="first"),
            Message(role="assistant", content="ok"),
            Message(role="user", content=[{"type": "text", "text": "second"}, {"type": "image_url"}])]
    assert routed_text(chat, "last_user") == "second"
    assert routed_text(chat, "system_and_last_user") == "Be brief.\n\nsecond"
    assert routed_text(chat, "conversation") == "Be brief.\n\nfirst\n\nok\n\nsecond"


def test_an_onboarding_job_runs_locus_onboard_with_the_request_over_the_gateways_defaults(store):
    import shlex
    import sys

    from locus.serve.onboarding_jobs import entrypoint

    from locus.api import OnboardRequest

    settings = GatewaySettings(root=str(store.uri), onboarding={"config": "/etc/locus/eval.yaml", "budget": 96})
    request = OnboardRequest(model_id="org/new-model", served_at="http://10.0.0.7:8000/v1")
    args = entrypoint(settings, request)
    assert args[:4] == [sys.executable, "-m", "locus.cli", "onboard"] and "--run" in args
    given = dict(zip(args[5::2], args[6::2], strict=False))
    assert given["--model"] == given["--path"] == "org/new-model" and given["--budget"] == "96"
    assert given["--strategy"] == "stratified" and given["--config"] == "/etc/locus/eval.yaml"
    assert given["--served-at"] == "http://10.0.0.7:8000/v1" and "--served-name" not in given
    chosen = entrypoint(settings, request.model_copy(update={"budget": 8, "strategy": "random",
                                                             "model": "/weights/new model"}))
    assert chosen[chosen.index("--budget") + 1] == "8" and chosen[chosen.index("--path") + 1] == "/weights/new model"
    assert shlex.split(shlex.join(chosen)) == chosen  # one argument each, spaces and all
    with pytest.raises(ValidationError, match="model_id"):
        OnboardRequest(model_id="bad; rm -rf /")
