"""The trained second stage of an embedder adapter: a residual MLP with an AAM-softmax loss.

``head(z) = z + W2 relu(W1 z + b1) + b2`` with ``W2`` and ``b2`` zero at the start, so the
untrained head is the identity and the adapter starts as its compensation stage alone. It is
trained on the compensated rows of the enrolled users with additive angular margin softmax
(ArcFace: the target class's angle is widened by ``margin`` before the scaled softmax), the loss
WeSpeaker and SpeechBrain use for speaker embeddings, stable with few classes.

Early stopping on a development EER: every epoch the whole adapter embeds a held-back set of
the training users' rows and the epoch with the lowest EER wins, epoch 0 (the identity head)
included, so a head that does not help is trained away to nothing rather than shipped.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import torch
from numpy.typing import NDArray
from torch import nn
from torch.nn import functional

from trainer.adapters.compensation import Compensation
from trainer.features import FeatureSet


@dataclass(frozen=True)
class HeadConfig:
    hidden: int = 256
    margin: float = 0.2  # radians added to the target angle
    scale: float = 30.0
    learning_rate: float = 1e-3
    weight_decay: float = 1e-4
    max_epochs: int = 40
    patience: int = 8  # epochs without a better development EER before stopping
    batch_size: int = 64
    seed: int = 0
    threads: int = 1  # the machine is shared: a second thread mostly waits


class ResidualHead(nn.Module):
    def __init__(self, width: int, hidden: int) -> None:
        super().__init__()
        self.inner = nn.Linear(width, hidden)
        self.outer = nn.Linear(hidden, width)
        nn.init.zeros_(self.outer.weight)
        nn.init.zeros_(self.outer.bias)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        out: torch.Tensor = z + self.outer(functional.relu(self.inner(z)))
        return out


class Adapter(nn.Module):
    """The whole adapter, ``[N, width] -> [N, width]``: Sub, MatMul, L2, head, L2."""

    mean: torch.Tensor
    matrix: torch.Tensor

    def __init__(self, compensation: Compensation, head: ResidualHead) -> None:
        super().__init__()
        self.register_buffer("mean", torch.from_numpy(compensation.mean.copy()))
        self.register_buffer("matrix", torch.from_numpy(compensation.matrix.copy()))
        self.head = head

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        compensated = functional.normalize((features - self.mean) @ self.matrix, dim=1)
        return functional.normalize(self.head(compensated), dim=1)

    def embed(self, vectors: NDArray[np.float32]) -> NDArray[np.float32]:
        self.eval()
        with torch.inference_mode():
            out = self(torch.from_numpy(np.ascontiguousarray(vectors, dtype=np.float32)))
        return np.asarray(out.numpy(), dtype=np.float32)


class AamSoftmax(nn.Module):
    """Additive angular margin softmax over one learnt centre per class."""

    def __init__(self, width: int, classes: int, margin: float, scale: float) -> None:
        super().__init__()
        self.centres = nn.Parameter(torch.empty(classes, width))
        nn.init.xavier_uniform_(self.centres)
        self.scale = scale
        self.cos_m, self.sin_m = math.cos(margin), math.sin(margin)
        # Past this angle cos(θ + m) is no longer decreasing in θ: fall back to a linear penalty.
        self.threshold = math.cos(math.pi - margin)
        self.penalty = math.sin(math.pi - margin) * margin

    def forward(self, embeddings: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        cosine = functional.linear(embeddings, functional.normalize(self.centres, dim=1))
        sine = torch.sqrt((1.0 - cosine.square()).clamp(min=1e-7))
        widened = cosine * self.cos_m - sine * self.sin_m
        widened = torch.where(cosine > self.threshold, widened, cosine - self.penalty)
        target = functional.one_hot(labels, cosine.shape[1]).bool()
        logits = torch.where(target, widened, cosine) * self.scale
        return functional.cross_entropy(logits, labels)


# The development score of an adapter's embedding function: lower is better (an EER).
DevScore = Callable[[Callable[[NDArray[np.float32]], NDArray[np.float32]]], float]


@dataclass(frozen=True)
class TrainedHead:
    adapter: Adapter
    best_epoch: int  # 0: the head stayed the identity
    dev_score: float
    epochs_run: int


def train_head(
    compensation: Compensation,
    train: FeatureSet,
    dev_score: DevScore,
    config: HeadConfig | None = None,
) -> TrainedHead:
    """Train the head on ``train`` (base rows), keeping the epoch ``dev_score`` likes best."""
    config = config or HeadConfig()
    torch.manual_seed(config.seed)
    torch.set_num_threads(config.threads)
    generator = torch.Generator().manual_seed(config.seed)
    _, labels_np = np.unique(np.asarray(train.user_ids), return_inverse=True)
    compensated = torch.from_numpy(compensation.apply(train.vectors))
    labels = torch.from_numpy(labels_np.astype(np.int64))
    head = ResidualHead(train.width, config.hidden)
    adapter = Adapter(compensation, head)
    loss_fn = AamSoftmax(train.width, int(labels.max()) + 1, config.margin, config.scale)
    optimiser = torch.optim.AdamW(
        [*head.parameters(), *loss_fn.parameters()],
        lr=config.learning_rate,
        weight_decay=config.weight_decay,
    )
    best_score = dev_score(adapter.embed)
    best_state = {k: v.clone() for k, v in head.state_dict().items()}
    best_epoch = 0
    epoch = 0
    for epoch in range(1, config.max_epochs + 1):
        head.train()
        order = torch.randperm(labels.shape[0], generator=generator)
        for start in range(0, order.shape[0], config.batch_size):
            batch = order[start : start + config.batch_size]
            embeddings = functional.normalize(head(compensated[batch]), dim=1)
            loss = loss_fn(embeddings, labels[batch])
            optimiser.zero_grad()
            loss.backward()
            optimiser.step()
        score = dev_score(adapter.embed)
        if score < best_score:
            best_score, best_epoch = score, epoch
            best_state = {k: v.clone() for k, v in head.state_dict().items()}
        elif epoch - best_epoch >= config.patience:
            break
    head.load_state_dict(best_state)
    adapter.eval()
    return TrainedHead(
        adapter=adapter, best_epoch=best_epoch, dev_score=best_score, epochs_run=epoch
    )
