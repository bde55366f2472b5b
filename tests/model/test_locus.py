"""The set encoder is permutation-invariant, padding-invariant and deterministic."""

import subprocess
import sys

import numpy as np
import pytest
import torch

from locus.model import ModelConfig
from locus.model.locus import Locus

CONFIG = ModelConfig(query_dim=16, dim=32, num_latents=8, heads=4)


def _model(seed: int = 0) -> Locus:
    torch.manual_seed(seed)
    return Locus(CONFIG).eval()


def _set(n: int, seed: int = 1) -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    return torch.randn(2, n, 16, generator=g), (torch.rand(2, n, generator=g) > 0.5).float()


@torch.no_grad()
def test_shuffled_evaluations_give_the_same_embedding():
    model, (phi, y) = _model(), _set(300)
    perm = torch.randperm(300)
    assert torch.allclose(model.embed(phi, y), model.embed(phi[:, perm], y[:, perm]), atol=1e-5)


@torch.no_grad()
def test_padding_does_not_change_the_embedding():
    model, (phi, y) = _model(), _set(50)
    pad_phi = torch.cat([phi, 100 * torch.randn(2, 70, 16)], dim=1)
    pad_y = torch.cat([y, torch.ones(2, 70)], dim=1)
    mask = torch.zeros(2, 120, dtype=torch.bool)
    mask[:, :50] = True
    mask[1, 50:60] = True  # second set is ten longer: mixed sizes in one batch
    z = model.embed(pad_phi, pad_y, mask)
    assert torch.allclose(z[0], model.embed(phi, y)[0], atol=1e-5)
    assert torch.allclose(z[1], model.embed(pad_phi[1:, :60], pad_y[1:, :60])[0], atol=1e-5)


@torch.no_grad()
def test_scores_reach_the_embedding_and_continuous_scores_matter():
    model, (phi, y) = _model(), _set(40)
    z = model.embed(phi, y)
    assert not torch.allclose(z, model.embed(phi, 1 - y), atol=1e-4)
    assert not torch.allclose(z, model.embed(phi, y.clamp(0.2, 0.8)), atol=1e-4)


@torch.no_grad()
def test_predictor_shapes_and_all_pairs_agree():
    model, (phi, y) = _model(), _set(30)
    z = model.embed(phi, y)
    queries = torch.randn(7, 16)
    matrix = model.logits_matrix(z, queries, chunk=3)
    assert matrix.shape == (2, 7)
    assert torch.allclose(matrix, model.logits(z, queries.expand(2, -1, -1)), atol=1e-6)


def test_same_input_same_output_across_processes():
    code = (
        "import torch, sys\n"
        "from tests.model.test_locus import _model, _set\n"
        "phi, y = _set(64)\n"
        "with torch.no_grad(): z = _model().embed(phi, y)\n"
        "sys.stdout.write(' '.join(repr(v) for v in z.flatten().tolist()))\n"
    )
    runs = [subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
            for _ in range(2)]
    first, second = (np.array([float(v) for v in r.split()]) for r in runs)
    with torch.no_grad():
        here = _model().embed(*_set(64)).flatten().numpy()
    assert np.array_equal(first, second)
    assert np.allclose(first, here, atol=1e-6)


def test_empty_set_is_rejected():
    model, (phi, y) = _model(), _set(5)
    mask = torch.ones(2, 5, dtype=torch.bool)
    mask[1] = False
    with pytest.raises(ValueError, match="at least one evaluation"):
        model.embed(phi, y, mask)


@torch.no_grad()
def test_query_coordinates_are_centred_principal_directions_of_unit_mean_norm():
    from locus.model.locus import QueryBasis

    g = torch.Generator().manual_seed(0)
    # a large shared direction with small variation around it, as sentence-encoder vectors have
    phi = 5 * torch.ones(200, 16) + torch.randn(200, 16, generator=g) * torch.linspace(2, 0.1, 16)
    basis = QueryBasis(query_dim=16, components=4)
    basis.fit(phi)
    coords = basis(phi)
    assert coords.shape == (200, 4)
    assert torch.allclose(coords.mean(0), torch.zeros(4), atol=1e-5)
    assert coords.norm(dim=1).mean() == pytest.approx(1.0, rel=1e-5)
    variances = coords.var(0)
    assert bool((variances[:-1] >= variances[1:]).all())  # largest variation first
    again = QueryBasis(query_dim=16, components=4)
    again.fit(phi[torch.randperm(200, generator=g)])  # the same fit whatever the order of the queries
    assert torch.allclose(again(phi), coords, atol=1e-4)
    assert torch.equal(QueryBasis(query_dim=16, components=0)(phi), phi)  # 0: the raw vectors


@torch.no_grad()
def test_refinement_fits_the_models_own_evaluations_within_its_prior():
    model, (phi, y) = _model(), _set(60)
    mask = torch.ones_like(y, dtype=torch.bool)
    encoded = model.encode_projected(model.project_queries(phi), y, mask)
    refined = model.embed(phi, y)

    def own_loss(z):
        return torch.nn.functional.binary_cross_entropy_with_logits(model.logits(z, phi), y, reduction="none").sum(1)

    assert bool((own_loss(refined) < own_loss(encoded)).all())
    # a stronger prior keeps it nearer the encoder's; no steps is the encoder's forward pass
    strict = Locus(CONFIG.model_copy(update={"refine_prior": 100.0})).eval()
    strict.load_state_dict(model.state_dict())
    assert bool(((strict.embed(phi, y) - encoded).norm(dim=1) < (refined - encoded).norm(dim=1)).all())
    off = Locus(CONFIG.model_copy(update={"refine_steps": 0})).eval()
    off.load_state_dict(model.state_dict())
    assert torch.equal(off.embed(phi, y), encoded)


def test_refinement_leaves_the_weights_without_gradients():
    model, (phi, y) = _model(), _set(20)
    model.embed(phi, y)
    assert all(p.grad is None for p in model.parameters())


def test_refinement_runs_under_inference_mode():
    model, (phi, y) = _model(), _set(20)
    with torch.inference_mode():
        inferred = model.embed(phi, y)
    with torch.no_grad():
        assert torch.allclose(inferred, model.embed(phi, y), atol=1e-6)


def test_refinement_takes_the_steps_it_describes():
    """refine computes the predictor's first layer in parts; the steps are those on predict's log-loss."""
    model, (phi, y) = _model(), _set(40)
    mask = torch.ones_like(y, dtype=torch.bool)
    features = model.query_features(phi).detach()
    anchor = model.encode_projected(model.project_queries(phi), y, mask).detach()
    z = anchor.clone().requires_grad_(True)
    optimizer = torch.optim.Adam([z], lr=CONFIG.refine_lr)
    for _ in range(CONFIG.refine_steps):
        loss = torch.nn.functional.binary_cross_entropy_with_logits(model.predict(z, features), y, reduction="sum")
        loss = loss + CONFIG.refine_prior * (z - anchor).square().sum()
        (z.grad,) = torch.autograd.grad(loss, z)
        optimizer.step()
    assert torch.allclose(model.refine(anchor, features, y, mask), z.detach(), atol=1e-4)
