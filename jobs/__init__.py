"""Ray entrypoints: training (Ray Train), model embedding (Ray Data), evaluation and query encoding.

Each runs on a local Ray cluster it starts (`ray.init()`) or on the cluster at `address`, and is
what `locus job submit` sends through the Ray Jobs API.
"""
