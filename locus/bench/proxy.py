"""`locus bench proxy`: when the model a query is routed to is unavailable, how much routing
accuracy does its nearest available neighbour keep, against a random substitute and against
re-routing to the next-best predicted model?"""

from __future__ import annotations

import numpy as np

from locus.heldout import HeldOut
from locus.metrics import distance_matrix
from locus.routing import nearest


def proxy_benchmark(held: HeldOut) -> dict:
    """Take each model down in turn; its test queries (those routed to it) go to a substitute.

    kept = (score of the substitutes) / (score the routed model had) over those queries, summed
    over every model taken down; a random substitute is the mean over the other models (exact)."""
    probs, scores, z = held.probs, held.scores, held.z
    seen = ~np.isnan(scores)
    routed = np.argmax(np.where(seen, probs, -np.inf), axis=0)
    distance = distance_matrix(z)
    rows, totals = [], np.zeros(4)
    for m, model_id in enumerate(held.model_ids):
        queries = np.flatnonzero(routed == m)
        others = np.flatnonzero(np.arange(len(z)) != m)
        proxy = int(others[nearest(z[others], z[m])])
        if len(queries) == 0:
            continue
        q = queries[seen[proxy, queries]]  # queries the proxy was evaluated on
        own = scores[m, q]
        substitute = scores[proxy, q]
        random = np.nanmean(scores[np.ix_(others, q)], axis=0)
        rerouted = np.argmax(np.where(seen[np.ix_(others, q)], probs[np.ix_(others, q)], -np.inf), axis=0)
        reroute = scores[others[rerouted], q]
        sums = np.array([own.sum(), substitute.sum(), random.sum(), reroute.sum()])
        totals += sums
        rows.append({"model_id": model_id, "proxy": held.model_ids[proxy], "distance": float(distance[m, proxy]),
                     "queries": int(len(q)), "own_acc": float(own.mean()), "proxy_acc": float(substitute.mean()),
                     "random_acc": float(random.mean()), "reroute_acc": float(reroute.mean())})
    own, proxy_sum, random_sum, reroute_sum = totals
    return {"version": held.checkpoint.version, "test_queries": int(scores.shape[1]),
            "proxy_kept": float(proxy_sum / own), "random_kept": float(random_sum / own),
            "reroute_kept": float(reroute_sum / own), "models": rows}
