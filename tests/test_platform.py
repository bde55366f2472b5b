"""`cluster.yaml` and the KubeRay manifests in `platform/`, checked offline by the tools made for
them, and kept in step with what the tests start. What no test here can do (start a cluster from
them) is said in platform/README.md.

- cluster.yaml: Ray's cluster-launcher schema, after the defaults `ray up` fills in.
- Manifests: every Pod template against Kubernetes' own schema (kubernetes-validate; the KubeRay
  CRDs' schema ships in no package, so the fields around the templates are checked here by hand),
  `serveConfigV2` against Ray Serve's deploy schema and its apps' args against LOCUS's settings,
  runtime envs against Ray's, and RayJob entrypoints against the `locus` CLI.
"""

from __future__ import annotations

import copy
import re
import shlex
from pathlib import Path

import pytest
import ray
import yaml
from typer.testing import CliRunner

from locus.cli import app

ROOT = Path(__file__).resolve().parents[1]
MANIFESTS = sorted((ROOT / "platform" / "k8s").glob("*.yaml"))
KUBERNETES = "1.34"
IMAGE = "ghcr.io/locus-ml/locus:latest"


def _manifest(path: Path) -> dict:
    return yaml.safe_load(path.read_text())


def _cluster_spec(manifest: dict) -> dict:
    return manifest["spec"].get("rayClusterSpec") or manifest["spec"]["rayClusterConfig"]


def _pod_templates(manifest: dict) -> list[dict]:
    spec = _cluster_spec(manifest)
    return [group["template"] for group in (spec["headGroupSpec"], *spec["workerGroupSpecs"])]


def test_cluster_yaml_passes_the_cluster_launchers_schema():
    from ray.autoscaler._private.util import prepare_config, validate_config

    config = yaml.safe_load((ROOT / "cluster.yaml").read_text())
    validate_config(prepare_config(copy.deepcopy(config)))  # what `ray up` runs before it starts anything
    assert config["docker"]["image"] == IMAGE
    typo = copy.deepcopy(config)
    typo["available_node_types"]["gpu_worker"]["min_worker"] = 1
    with pytest.raises(Exception, match="min_worker"):  # the check can fail
        validate_config(prepare_config(typo))


@pytest.mark.parametrize("path", MANIFESTS, ids=lambda p: p.name)
def test_pod_templates_pass_the_kubernetes_schema(path):
    import kubernetes_validate

    manifest = _manifest(path)
    assert manifest["apiVersion"] == "ray.io/v1" and manifest["kind"] in ("RayJob", "RayService")
    for template in _pod_templates(manifest):
        kubernetes_validate.validate({"apiVersion": "v1", "kind": "PodTemplate", "metadata": {"name": path.stem},
                                      "template": template}, KUBERNETES, strict=True)
        assert {c["image"] for c in template["spec"]["containers"]} == {IMAGE}
    broken = {"apiVersion": "v1", "kind": "PodTemplate", "metadata": {"name": "x"},
              "template": {"spec": {"containers": [{"name": "x", "imagee": IMAGE}]}}}
    with pytest.raises(kubernetes_validate.ValidationError, match="imagee"):
        kubernetes_validate.validate(broken, KUBERNETES, strict=True)


@pytest.mark.parametrize("path", MANIFESTS, ids=lambda p: p.name)
def test_ray_clusters_match_the_installed_ray_and_what_the_tests_start(path):
    """The Ray version of the image, and a head that runs no tasks (drivers, Serve's controller and
    proxy, job supervisors), as the multi-node tests' head (tests/jobs/test_multinode.py)."""
    spec = _cluster_spec(_manifest(path))
    assert spec["rayVersion"] == ray.__version__
    assert spec["headGroupSpec"]["rayStartParams"]["num-cpus"] == "0"
    for group in spec["workerGroupSpecs"]:
        assert group["minReplicas"] <= group["replicas"] <= group["maxReplicas"]


def test_serve_configs_pass_serves_schema_and_locus_settings():
    from locus.serve.gateway_settings import GatewaySettings
    from locus.serve.settings import ServeSettings
    from ray.serve.schema import ServeDeploySchema

    settings = {"locus.serve.app:build": ServeSettings, "locus.serve.gateway_app:build_gateway": GatewaySettings,
                "locus.serve.gateway_app:build_models": GatewaySettings}
    configs = [yaml.safe_load((ROOT / "serve" / name).read_text()) for name in ("config.yaml", "gateway.yaml")]
    configs += [yaml.safe_load(m["spec"]["serveConfigV2"]) for m in map(_manifest, MANIFESTS)
                if m["kind"] == "RayService"]
    assert len(configs) == 4
    for config in configs:
        for application in ServeDeploySchema.model_validate(config).applications:
            settings[application.import_path].model_validate(application.args)


@pytest.mark.parametrize("path", [p for p in MANIFESTS if p.stem.startswith("rayjob")], ids=lambda p: p.name)
def test_rayjob_entrypoints_are_locus_commands_and_runtime_envs_are_rays(path):
    from ray.runtime_env import RuntimeEnv

    spec = _manifest(path)["spec"]
    program, *args = shlex.split(spec["entrypoint"])
    assert program == "locus"
    parsed = CliRunner().invoke(app, [*args, "--help"])  # options parsed by the CLI, nothing run
    assert parsed.exit_code == 0, parsed.output
    RuntimeEnv(**yaml.safe_load(spec.get("runtimeEnvYAML", "{}")))


def test_the_image_sets_the_serve_environment_the_local_clusters_get():
    from locus.jobs.ray_session import FAST_SERVE_ENV

    dockerfile = (ROOT / "platform" / "Dockerfile").read_text().replace("\\\n", " ")
    image_env = dict(re.findall(r'(RAY_SERVE_\w+)=("[^"]*"|\S+)', " ".join(
        line for line in dockerfile.splitlines() if line.startswith("ENV"))))
    assert {k: v.strip('"') for k, v in image_env.items()} == FAST_SERVE_ENV
