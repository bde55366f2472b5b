"""The Ray jobs behind the gateway's `POST /v1/models`: each runs `locus onboard --run` for one model
on the cluster (the evaluation job's vLLM engines, then the embedding and the registration), so it
is followed, and stopped, like any Ray job (`locus job status ID`, `GET /v1/onboarding/ID`). A job
that fails or is stopped leaves the model unregistered; submitting it again finishes it, reusing
the evaluations already stored."""

from __future__ import annotations

import re
import secrets
import shlex
import sys

import ray
from locus.jobs.ray_session import job_env
from locus.serve.gateway_settings import GatewaySettings

from locus.api import OnboardingStatus, OnboardRequest
from locus.errors import ConflictError
from locus.store import Store

KIND = "locus-onboard"  # the `kind` metadata of these jobs
FINISHED = ("SUCCEEDED", "FAILED", "STOPPED")
LOG_LINES = 20


def jobs_client(settings: GatewaySettings):
    """A Jobs API client of the configured address, else of this cluster's dashboard (found from
    its GCS, so from any node)."""
    from ray.job_submission import JobSubmissionClient

    return JobSubmissionClient(settings.onboarding.jobs_address or ray.get_runtime_context().gcs_address)


def entrypoint(settings: GatewaySettings, request: OnboardRequest) -> list[str]:
    """The `locus onboard --run` command line of `request` (the gateway's defaults where it is silent)."""
    defaults = settings.onboarding
    args = [sys.executable, "-m", "locus.cli", "onboard", "--run", "--root", Store(settings.root).uri,
            "--version", settings.version, "--model", request.model_id, "--path", request.model or request.model_id,
            "--budget", str(request.budget or defaults.budget), "--strategy", request.strategy or defaults.strategy]
    for flag, value in (("--config", defaults.config), ("--served-at", request.served_at),
                        ("--served-name", request.served_name)):
        if value is not None:
            args += [flag, value]
    return args


def submit(client, settings: GatewaySettings, request: OnboardRequest) -> str:
    """Submit the onboarding of `request` and return its job id; refused (ConflictError) while one of
    the same model is unfinished."""
    for job in client.list_jobs():
        meta = job.metadata or {}
        if meta.get("kind") == KIND and meta.get("model_id") == request.model_id and job.status.value not in FINISHED:
            raise ConflictError(f"model_id: {request.model_id!r} is being onboarded by job {job.submission_id} "
                                f"({job.status.value}); wait for it or stop it first")
    slug = re.sub(r"[^\w-]+", "-", request.model_id)[:60]
    return client.submit_job(entrypoint=shlex.join(entrypoint(settings, request)),
                             submission_id=f"{KIND}-{slug}-{secrets.token_hex(4)}",
                             metadata={"kind": KIND, "model_id": request.model_id},
                             runtime_env={"env_vars": job_env()})


def status(client, job_id: str, routable: list[str]) -> OnboardingStatus | None:
    """Where onboarding job `job_id` stands (None when there is no such onboarding job)."""
    try:
        info = client.get_job_info(job_id)
    except RuntimeError:  # the Jobs API answers 404 for an unknown id
        return None
    meta = info.metadata or {}
    if meta.get("kind") != KIND:
        return None
    lines = client.get_job_logs(job_id).splitlines()[-LOG_LINES:]
    return OnboardingStatus(id=job_id, model_id=meta["model_id"], status=info.status.value, message=info.message,
                            routable=meta["model_id"] in routable, log_tail=lines)
