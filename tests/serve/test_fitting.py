"""Replica minimums fitted to a fixed local cluster (two of the ingress and LOCUS where they fit) and
to a ceiling of replicas (`locus serve --max-replicas`)."""

from locus.serve.app import CPUS, fitted
from locus.serve.settings import ServeSettings


def test_two_replicas_where_there_is_room_else_one(tmp_path):
    settings = ServeSettings(root=str(tmp_path))
    assert (settings.ingress.min_replicas, settings.locus.min_replicas) == (2, 2)
    need = CPUS["encoder"] + 2 * (CPUS["locus"] + CPUS["ingress"])
    assert fitted(settings, need) is settings
    small = fitted(settings, need - 0.01)
    assert (small.ingress.min_replicas, small.locus.min_replicas, small.encoder.min_replicas) == (1, 1, 1)
    assert small.ingress.max_replicas == settings.ingress.max_replicas


def test_a_replica_ceiling_lowers_the_minimum_to_fit(tmp_path):
    from locus.serve.settings import ceiling

    settings = ServeSettings(root=str(tmp_path))
    assert ceiling(settings.ingress, 4).model_dump() == settings.ingress.model_dump() | {"max_replicas": 4}
    assert (ceiling(settings.locus, 1).min_replicas, ceiling(settings.locus, 1).max_replicas) == (1, 1)
