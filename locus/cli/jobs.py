"""`locus job ...`: run LOCUS commands on a Ray cluster through the Ray Jobs API.

`locus job submit -- train --root s3://bucket/locus --workers 8` sends `locus train ...` as the
job's entrypoint with a runtime_env, prints the job id; `status`, `logs` and `stop` take that id.
"""

from __future__ import annotations

import os
import shlex
import time
from pathlib import Path
from typing import Annotated

import typer

from locus.cli.common import console, reports_errors
from locus.errors import LocusDataError

job_app = typer.Typer(rich_markup_mode=None, help="Submit LOCUS jobs to a Ray cluster (Ray Jobs API) and follow them.",
                      no_args_is_help=True)
SUBMITTABLE = ("train", "embed", "eval", "encode", "score", "fit", "import", "bench", "onboard", "drift")
TERMINAL = ("SUCCEEDED", "FAILED", "STOPPED")
Address = Annotated[str | None, typer.Option(
    help="Ray dashboard address (default: RAY_API_SERVER_ADDRESS, an http RAY_ADDRESS, or http://127.0.0.1:8265)")]
JobId = Annotated[str, typer.Argument(help="the id `locus job submit` printed")]


def _client(address: str | None):
    from ray.job_submission import JobSubmissionClient

    env_address = os.environ.get("RAY_ADDRESS", "")
    address = (address or os.environ.get("RAY_API_SERVER_ADDRESS")
               or (env_address if env_address.startswith("http") else "http://127.0.0.1:8265"))
    try:
        return JobSubmissionClient(address)
    except (ConnectionError, RuntimeError, ValueError) as exc:
        raise LocusDataError(f"no Ray Jobs API at {address}: {exc}") from exc


def _runtime_env(path: Path | None, working_dir: Path | None) -> dict:
    import yaml

    from locus.jobs.ray_session import job_env

    env = (yaml.safe_load(path.read_text()) or {}) if path else {}
    if not isinstance(env, dict):
        raise LocusDataError(f"--runtime-env: {path} must hold a mapping (env_vars, pip, working_dir, ...)")
    if working_dir is not None:
        env["working_dir"] = str(working_dir)
    env["env_vars"] = job_env() | env.get("env_vars", {})
    return env


def _wait(client, job_id: str, timeout: float | None = None) -> str:
    start = time.monotonic()
    while (status := str(client.get_job_status(job_id).value)) not in TERMINAL:
        if timeout is not None and time.monotonic() - start > timeout:
            break
        time.sleep(1.0)
    return status


def _submit(client, *, patience_s: float = 180.0, **job) -> str:
    """Submit; while a freshly started head has no job agent yet, Ray answers 500 'No available
    agent to submit job': retry that for a while instead of failing."""
    deadline = time.monotonic() + patience_s
    while True:
        try:
            return client.submit_job(**job)
        except RuntimeError as exc:
            if "No available agent" not in str(exc) or time.monotonic() > deadline:
                raise
            time.sleep(2.0)


@job_app.command("submit", context_settings={"allow_extra_args": True, "ignore_unknown_options": True},
                 options_metavar="[OPTIONS] -- COMMAND [ARGS]...")
@reports_errors
def submit(ctx: typer.Context, address: Address = None,
           runtime_env: Annotated[Path | None, typer.Option(help="YAML runtime_env (pip, env_vars, ...)")] = None,
           working_dir: Annotated[Path | None, typer.Option(help="upload this folder as the job's working_dir")]
           = None,
           wait: Annotated[bool, typer.Option(help="wait for the job, print its logs, exit 1 unless it succeeds")]
           = False) -> None:
    """Submit `locus COMMAND ...` as a Ray job, e.g. `locus job submit -- train --root ROOT --workers 4`.

    COMMAND is one of train, embed, eval, encode, score, fit, import, bench, onboard, drift. It runs
    on the cluster, where a relative --root is resolved against the job's working directory: give
    the cluster's shared path or a URI (s3://...)."""
    args = list(ctx.args)
    if not args or args[0] not in SUBMITTABLE:
        raise LocusDataError(f"give the locus command to run after `--`, one of {', '.join(SUBMITTABLE)}; "
                             f"e.g. locus job submit -- train --root ROOT")
    client = _client(address)
    job_id = _submit(client, entrypoint="locus " + shlex.join(args), runtime_env=_runtime_env(runtime_env,
                                                                                                working_dir))
    console.print(job_id)
    if wait:
        status = _wait(client, job_id)
        console.print(client.get_job_logs(job_id), markup=False, highlight=False)
        console.print(f"job {job_id}: {status}")
        if status != "SUCCEEDED":
            raise typer.Exit(1)


@job_app.command("status")
@reports_errors
def status(job_id: JobId, address: Address = None) -> None:
    """Status of a submitted job, with its entrypoint and times."""
    info = _client(address).get_job_info(job_id)
    console.print(f"{job_id}: {info.status.value}  entrypoint: {info.entrypoint}", markup=False)
    if info.message:
        console.print(info.message, markup=False)


@job_app.command("logs")
@reports_errors
def logs(job_id: JobId, address: Address = None,
         follow: Annotated[bool, typer.Option("--follow", "-f", help="keep printing until the job ends")] = False
         ) -> None:
    """The job's driver logs (all of them, or followed live)."""
    client = _client(address)
    if not follow:
        console.print(client.get_job_logs(job_id), markup=False, highlight=False, end="")
        return
    import asyncio

    async def tail() -> None:
        async for lines in client.tail_job_logs(job_id):
            console.print(lines, markup=False, highlight=False, end="")

    asyncio.run(tail())


@job_app.command("stop")
@reports_errors
def stop(job_id: JobId, address: Address = None) -> None:
    """Ask Ray to stop a running job."""
    client = _client(address)
    stopped = client.stop_job(job_id)
    console.print(f"{job_id}: {_wait(client, job_id, timeout=30) if stopped else 'already finished'}")
