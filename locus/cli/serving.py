"""`locus serve` (the API: route, embeddings, compare, neighbours) and `locus gateway` (the routed
OpenAI-compatible gateway) on Ray Serve."""

from __future__ import annotations

import signal
import time
from pathlib import Path
from typing import Annotated

import typer

from locus.cli.common import DEFAULT_ROOT, Root, Version, console, reports_errors


@reports_errors
def serve(root: Root = DEFAULT_ROOT, version: Version = "latest",
          host: Annotated[str, typer.Option(help="interface to listen on")] = "127.0.0.1",
          port: Annotated[int, typer.Option(help="HTTP port")] = 8000,
          address: Annotated[str | None, typer.Option(help="Ray cluster to join (default: start a local one)")]
          = None,
          write_token: Annotated[str | None, typer.Option(envvar="LOCUS_WRITE_TOKEN",
                                                          help="bearer token for registering models")] = None,
          read_token: Annotated[str | None, typer.Option(envvar="LOCUS_READ_TOKEN",
                                                         help="bearer token for reads (default: open)")] = None,
          max_replicas: Annotated[int, typer.Option(help="autoscaling ceiling per deployment")] = 2,
          encoder_max_tokens: Annotated[int, typer.Option(help="word pieces of a query the routing encoder reads "
                                                               "(0: the encoder's own limit)")] = 128,
          encoder_int8: Annotated[bool, typer.Option("--encoder-int8/--encoder-exact",
                                                     help="int8-quantized routing encoder (4.4x the throughput with "
                                                          "128 tokens, same routing accuracy) or the exact one")]
          = True) -> None:
    """Serve routing, embedding and comparison endpoints until Ctrl-C (then stop what was started).

    A local cluster started here runs Serve's throughput mode with HAProxy in front (set
    RAY_SERVE_THROUGHPUT_OPTIMIZED=0 and RAY_SERVE_ENABLE_HA_PROXY=0 for Serve's defaults), and a
    watchdog stops its HAProxy however this process ends."""
    from locus.checkpoint import resolve_version
    from locus.serve.guard import claim_port
    from locus.store import Store

    store = Store(root)
    resolved = resolve_version(store, version)  # before Ray and Serve start: a store with no version answers at once
    if address is None:
        claim_port(host, port)  # and a port held by another process, naming it
    if store.read_model_embeddings(resolved).num_rows == 0:
        from locus.embedding import embed_store

        console.print(f"version {resolved} has no model embeddings yet: embedding every model first")
        embed_store(store, resolved)
    from locus.serve.run import serving
    from locus.serve.settings import ServeSettings, ceiling

    settings = ServeSettings(root=root, version=version, write_token=write_token, read_token=read_token,
                             encoder_max_tokens=encoder_max_tokens or None, encoder_int8=encoder_int8)
    settings = settings.model_copy(update={name: ceiling(getattr(settings, name), max_replicas)
                                           for name in ("encoder", "locus", "ingress")})
    with serving(settings, host=host, port=port, address=address) as url:
        serve_until_interrupted(url)


@reports_errors
def gateway(config: Annotated[Path, typer.Option(help="gateway YAML: root, version, alias, policy, backends "
                                                      "(see configs/gateway.yaml)")],
            host: Annotated[str, typer.Option(help="interface to listen on")] = "127.0.0.1",
            port: Annotated[int, typer.Option(help="HTTP port")] = 8000,
            address: Annotated[str | None, typer.Option(help="Ray cluster to join (default: start a local one)")]
            = None) -> None:
    """Serve an OpenAI-compatible gateway until Ctrl-C: `model: locus/auto` sends each request to the
    model most likely to answer it, falling back to its nearest neighbour when that model's backend
    fails; a model's own name passes through. Backends are OpenAI-compatible servers (base_url) or
    models this cluster hosts with Ray Serve LLM (serve_llm)."""
    from locus.serve.gateway_backends import routable, with_table_backends
    from locus.serve.gateway_settings import load_gateway_settings
    from locus.serve.guard import claim_port

    settings = with_table_backends(load_gateway_settings(config, port=port))
    routed = routable(settings)  # before Ray starts: a config naming no pool model fails at once
    if address is None:
        claim_port(host, port)
    from locus.serve.run import gateway_serving

    console.print(f"routing {settings.alias} among {', '.join(routed)}")
    with gateway_serving(settings, host=host, port=port, address=address) as url:
        console.print(f"\nthe gateway serves at [bold]{url}/v1[/]. In another shell:", highlight=False)
        console.print(f"  curl -s {url}/v1/chat/completions -H 'content-type: application/json' -d "
                      f"'{{\"model\": \"{settings.alias}\", \"messages\": [{{\"role\": \"user\", "
                      f"\"content\": \"What is 2+2?\"}}]}}'", markup=False, highlight=False)
        wait_for_interrupt()


EXAMPLE_CURLS = (  # two of the README's examples under Serving
    "curl -s localhost:8000/v1/route -H 'content-type: application/json' "
    "-d '{\"query\": \"What is the derivative of x^2?\", \"k\": 3}'",
    "curl -s 'localhost:8000/v1/models/gemini-1.5-pro-002/neighbors?k=3'",
)


def serve_until_interrupted(url: str, *, write_token: str | None = None) -> None:
    """Say where the app serves and how to call it, then wait for Ctrl-C. With `write_token`, a token
    this process made, print the export line registrations need."""
    console.print(f"\nLOCUS keeps serving at [bold]{url}[/] (API docs: {url}/docs). In another shell:", highlight=False)
    if write_token is not None:
        console.print(f"  export LOCUS_WRITE_TOKEN={write_token}   # registrations need it", markup=False,
                      highlight=False)
    for line in EXAMPLE_CURLS:
        console.print(f"  {line.replace('localhost:8000', url.removeprefix('http://'))}", markup=False,
                      highlight=False)
    console.print("(more under Serving in README.md). Ctrl-C stops the server and a Ray cluster started here.")
    wait_for_interrupt()


def wait_for_interrupt() -> None:
    """Wait for Ctrl-C."""
    # Ray (Train's run, its deferred-signal guards) may leave its own SIGINT handler behind, which
    # swallowed Ctrl-C now and then: whatever is installed, Ctrl-C ends this wait
    previous = signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        while True:
            time.sleep(1)
    except KeyboardInterrupt:
        console.print("stopping")
    finally:
        signal.signal(signal.SIGINT, previous)
