"""The LOCUS network: a permutation-invariant set encoder of (query, score) evaluations
and a predictor of p(model answers query correctly) from (model embedding, query).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from locus.model.config import ModelConfig
from locus.model.layers import LatentBottleneck, SetPool


class QueryBasis(nn.Module):
    """Query embeddings centred and projected on the top `components` principal directions of the
    training queries, scaled to unit mean norm over them: sentence-encoder vectors share a large
    common direction and vary little around it, and on a pool whose models differ by topic the
    network learned the model-by-topic interaction from these coordinates and not from the raw
    vectors (benchmarks/README.md, query features). Buffers, fitted once before training by `fit`
    (no labels used) and saved with the weights; 0 components passes the raw vectors through."""

    def __init__(self, *, query_dim: int, components: int) -> None:
        super().__init__()
        self.register_buffer("mean", torch.zeros(query_dim))
        self.register_buffer("basis", torch.eye(query_dim, components) if components else torch.empty(0))

    @property
    def out_dim(self) -> int:
        return self.basis.shape[1] if self.basis.numel() else self.mean.shape[0]

    @torch.no_grad()
    def fit(self, phi: torch.Tensor) -> None:
        """Fit on the training queries' embeddings [n, query_dim]."""
        if not self.basis.numel():
            return
        phi = phi.double()
        mean = phi.mean(0)
        _, _, vt = torch.linalg.svd(phi - mean, full_matrices=False)
        k = self.basis.shape[1]
        basis = vt[:k].T if vt.shape[0] >= k else torch.cat([vt.T, phi.new_zeros(phi.shape[1], k - vt.shape[0])], 1)
        basis = basis * torch.sign(basis.sum(0) + 1e-12)  # a fixed sign per direction: the same fit every time
        scale = ((phi - mean) @ basis).norm(dim=1).mean().clamp_min(1e-12)
        self.mean.copy_(mean)
        self.basis.copy_(basis / scale)

    def forward(self, phi: torch.Tensor) -> torch.Tensor:
        return (phi - self.mean) @ self.basis if self.basis.numel() else phi


class EvaluationTokenizer(nn.Module):
    """token(phi, y) = MLP(U phi + y (V phi + w) + b).

    Equal to a Linear over [phi, y, phi * (2y - 1)] (U = W1 - W2, V = 2 W2), but split so the
    query projections [U phi, V phi] are computed once per query and reused for every model.
    """

    def __init__(self, *, query_dim: int, dim: int) -> None:
        super().__init__()
        self.dim = dim
        self.project = nn.Linear(query_dim, 2 * dim, bias=False)
        self.score_weight = nn.Parameter(torch.randn(dim) * 0.02)
        self.bias = nn.Parameter(torch.zeros(dim))
        self.mlp = nn.Sequential(nn.GELU(), nn.Linear(dim, dim))

    def project_queries(self, phi: torch.Tensor) -> torch.Tensor:
        """[..., query_dim] -> [..., 2, dim]: the per-query part of the tokenizer."""
        return self.project(phi).unflatten(-1, (2, self.dim))

    def forward(self, projected: torch.Tensor, scores: torch.Tensor) -> torch.Tensor:
        """projected [B, n, 2, dim], scores [B, n] -> tokens [B, n, dim]."""
        y = scores.unsqueeze(-1)
        return self.mlp(projected[..., 0, :] + y * (projected[..., 1, :] + self.score_weight) + self.bias)


class Locus(nn.Module):
    """Set encoder (tokenizer -> L latent bottlenecks -> learned-query pooling) plus predictor."""

    def __init__(self, config: ModelConfig) -> None:
        super().__init__()
        self.config = config
        d = config.dim
        self.queries = QueryBasis(query_dim=config.query_dim, components=config.query_components)
        self.tokenizer = EvaluationTokenizer(query_dim=self.queries.out_dim, dim=d)
        self.blocks = nn.ModuleList(
            LatentBottleneck(dim=d, num_latents=config.num_latents, heads=config.heads, ff_mult=config.ff_mult)
            for _ in range(config.depth)
        )
        self.pool = SetPool(dim=d, heads=config.heads, ff_mult=config.ff_mult)
        # a DeepSets-style mean path: a direct, linear route for averages such as the success rate,
        # which attention pooling alone compressed for the strongest models at small budgets
        self.mean_path = nn.Linear(d, d) if config.mean_path else None
        # dropout around the query features: with few distinct queries the predictor otherwise
        # memorises them and loses held-out accuracy
        self.query_proj = nn.Sequential(nn.Dropout(config.dropout), nn.Linear(self.queries.out_dim, d),
                                        nn.Dropout(config.dropout))
        self.predictor = nn.Sequential(nn.Linear(3 * d, config.predictor_hidden), nn.GELU(),
                                       nn.Dropout(config.dropout), nn.Linear(config.predictor_hidden, 1))

    def project_queries(self, phi: torch.Tensor) -> torch.Tensor:
        return self.tokenizer.project_queries(self.queries(phi))

    def query_features(self, phi: torch.Tensor) -> torch.Tensor:
        """[..., query_dim] -> [..., d]: what the predictor reads of each query."""
        return self.query_proj(self.queries(phi))

    def encode_projected(self, projected: torch.Tensor, scores: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """The set encoder's forward pass: z [B, d] from pre-projected queries [B, n, 2, d], scores and
        mask [B, n]. What training fits; `embed_projected` refines it."""
        if not bool(mask.any(dim=1).all()):
            raise ValueError("every evaluation set must hold at least one evaluation")
        tokens = self.tokenizer(projected, scores)
        summary = None
        if self.mean_path is not None:
            weights = mask.unsqueeze(-1).to(tokens.dtype)
            summary = self.mean_path((tokens * weights).sum(1) / weights.sum(1))
        for block in self.blocks:
            tokens = block(tokens, mask)
        pooled = self.pool(tokens, mask)
        return pooled if summary is None else pooled + summary

    def refine(self, z: torch.Tensor, features: torch.Tensor, scores: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """Fit the encoder's z [B, d] to the model's own evaluations (query features [B, n, d], scores and
        mask [B, n]): `refine_steps` Adam steps on z alone, minimising the summed log-loss plus
        `refine_prior` times the squared distance to the encoder's z (a Gaussian prior centred there).
        The encoder amortises this fit over the pool and falls short of it (benchmarks/README.md,
        refinement). Each model's loss is its own, so the result depends neither on which models share
        a batch nor on the order of the evaluations."""
        if not self.config.refine_steps:
            return z
        # grads on, also for callers under no_grad or inference_mode (whose tensors are cloned out of it)
        with torch.inference_mode(False), torch.enable_grad():
            anchor, features, scores, mask = (t.detach().clone() for t in (z, features, scores, mask))
            # predict's first layer on [z, u, z * u], split: the u part is the same at every step
            first, rest = self.predictor[0], self.predictor[1:]
            w_z, w_u, w_zu = first.weight.detach().split(self.config.dim, dim=1)
            fixed = features @ w_u.T + first.bias.detach()
            z = anchor.clone().requires_grad_(True)
            optimizer = torch.optim.Adam([z], lr=self.config.refine_lr)
            for _ in range(self.config.refine_steps):
                hidden = fixed + (z @ w_z.T).unsqueeze(1) + (features * z.unsqueeze(1)) @ w_zu.T
                fit = F.binary_cross_entropy_with_logits(rest(hidden).squeeze(-1), scores, reduction="none")
                loss = (fit * mask).sum() + self.config.refine_prior * (z - anchor).square().sum()
                (z.grad,) = torch.autograd.grad(loss, z)
                optimizer.step()
        return z.detach()

    def embed_projected(self, projected: torch.Tensor, features: torch.Tensor, scores: torch.Tensor,
                        mask: torch.Tensor) -> torch.Tensor:
        """Model embeddings z [B, d] from pre-projected queries [B, n, 2, d] and their features [B, n, d]
        (`project_queries`, `query_features`), scores and mask [B, n]: the encoder's, refined."""
        return self.refine(self.encode_projected(projected, scores, mask), features, scores, mask)

    def embed(self, phi: torch.Tensor, scores: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
        """Model embeddings z [B, d] from query embeddings [B, n, query_dim] and scores [B, n]."""
        if mask is None:
            mask = torch.ones(scores.shape, dtype=torch.bool, device=scores.device)
        return self.embed_projected(self.project_queries(phi), self.query_features(phi), scores, mask)

    def predict(self, z: torch.Tensor, features: torch.Tensor) -> torch.Tensor:
        """Correctness logits for each model in z [B, d] on its queries' features [B, T, d] -> [B, T]."""
        z = z.unsqueeze(1).expand_as(features)
        return self.predictor(torch.cat([z, features, z * features], dim=-1)).squeeze(-1)

    def logits(self, z: torch.Tensor, phi: torch.Tensor) -> torch.Tensor:
        """Correctness logits for each model in z [B, d] on its queries phi [B, T, query_dim] -> [B, T]."""
        return self.predict(z, self.query_features(phi))

    def forward(self, context_phi: torch.Tensor, context_scores: torch.Tensor, context_mask: torch.Tensor,
                target_phi: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """One training episode: embed each context [V * B, n] (V views of B models, view-major),
        predict every model's targets [B, T] from each view -> (logits [V * B, T], z [V * B, d]).

        The whole episode goes through forward so that DistributedDataParallel sees it."""
        z = self.encode_projected(self.project_queries(context_phi), context_scores, context_mask)
        views = z.shape[0] // target_phi.shape[0]
        return self.logits(z, target_phi.repeat(views, 1, 1)), z

    def logits_matrix(self, z: torch.Tensor, phi: torch.Tensor, *, chunk: int = 4096) -> torch.Tensor:
        """Logits for every (model, query) pair: z [M, d], phi [Q, query_dim] -> [M, Q]."""
        out = []
        for start in range(0, phi.shape[0], chunk):
            part = phi[start:start + chunk].unsqueeze(0).expand(z.shape[0], -1, -1)
            out.append(self.logits(z, part))
        return torch.cat(out, dim=1) if out else z.new_zeros((z.shape[0], 0))
