"""Solvers: what turns an item's text into answer probabilities. One small interface, a registry of names.

A solver ``encode``s texts into fixed-length features (stored once per item, in ItemEmbedding, under the
solver's ``feature_name``), is ``fit`` on the features of human-labelled items, and gives ``predict_proba``
for any features. The scheduler-facing flow (service.py) only ever talks to this interface, so a
requester-side rule solver or another model is one more class and one more registry entry.

``embedding`` is the built-in: all-MiniLM-L6-v2 sentence embeddings and a softmax head in PyTorch.
``hashing`` swaps the embeddings for hashed word features; it needs no model files and serves tests.
"""

import hashlib
import re
from abc import ABC, abstractmethod
from collections.abc import Sequence
from typing import ClassVar

import numpy as np
import torch
from django.conf import settings

from . import embeddings


class Solver(ABC):
    name: ClassVar[str]
    feature_name: ClassVar[str]

    @abstractmethod
    def encode(self, texts: Sequence[str]) -> np.ndarray:
        """Features per text (rows), float32."""

    @abstractmethod
    def fit(self, features: np.ndarray, labels: np.ndarray, n_classes: int, *, seed: int = 0) -> None:
        """Learn from labelled features; ``labels`` are class indexes in ``range(n_classes)``."""

    @abstractmethod
    def predict_proba(self, features: np.ndarray) -> np.ndarray:
        """Probabilities, shape (rows, n_classes)."""

    def fresh(self) -> "Solver":
        """An unfitted solver of the same kind, for cross-fitting."""
        return type(self)()


class SoftmaxHeadSolver(Solver):
    """A linear softmax layer over fixed features, trained full-batch with L-BFGS and weight decay.

    Full-batch L-BFGS on a convex loss converges to the same weights every time, so results do not depend on
    mini-batch order, and a few hundred labelled items train in milliseconds.
    """

    weight_decay: ClassVar[float] = 1e-3
    max_iter: ClassVar[int] = 100

    def __init__(self) -> None:
        self.layer: torch.nn.Linear | None = None
        self.device = embeddings.device_name()

    def fit(self, features: np.ndarray, labels: np.ndarray, n_classes: int, *, seed: int = 0) -> None:
        torch.manual_seed(seed)
        x = torch.as_tensor(np.asarray(features, dtype=np.float32), device=self.device)
        y = torch.as_tensor(np.asarray(labels, dtype=np.int64), device=self.device)
        layer = torch.nn.Linear(x.shape[1], n_classes).to(self.device)
        torch.nn.init.zeros_(layer.weight)
        torch.nn.init.zeros_(layer.bias)
        optimizer = torch.optim.LBFGS(layer.parameters(), lr=1, max_iter=self.max_iter, line_search_fn="strong_wolfe")
        decay = self.weight_decay

        def closure() -> torch.Tensor:
            optimizer.zero_grad()
            loss = torch.nn.functional.cross_entropy(layer(x), y) + decay * layer.weight.pow(2).sum()
            loss.backward()
            return loss

        optimizer.step(closure)
        self.layer = layer

    @torch.no_grad()
    def predict_proba(self, features: np.ndarray) -> np.ndarray:
        if self.layer is None:
            raise RuntimeError("fit the solver before predicting")
        x = torch.as_tensor(np.asarray(features, dtype=np.float32), device=self.device)
        return torch.softmax(self.layer(x), dim=1).cpu().numpy()


class EmbeddingSolver(SoftmaxHeadSolver):
    name = "embedding"
    feature_name = "all-MiniLM-L6-v2"

    def encode(self, texts: Sequence[str]) -> np.ndarray:
        return embeddings.encode(texts)


class HashingSolver(SoftmaxHeadSolver):
    """Hashed unigrams and bigrams, unit length: a model-free stand-in with the same head."""

    name = "hashing"
    feature_name = "hashing-512"
    dimensions: ClassVar[int] = 512
    weight_decay: ClassVar[float] = 1e-4

    def encode(self, texts: Sequence[str]) -> np.ndarray:
        out = np.zeros((len(texts), self.dimensions), dtype=np.float32)
        for row, text in enumerate(texts):
            words = re.findall(r"\w+", text.lower())
            for token in words + [f"{a} {b}" for a, b in zip(words, words[1:], strict=False)]:
                digest = hashlib.blake2b(token.encode(), digest_size=4).digest()
                out[row, int.from_bytes(digest, "little") % self.dimensions] += 1.0
            norm = np.linalg.norm(out[row])
            if norm:
                out[row] /= norm
        return out


SOLVERS: dict[str, type[Solver]] = {cls.name: cls for cls in (EmbeddingSolver, HashingSolver)}


def get_solver(name: str | None = None) -> Solver:
    """A new solver by registry name; the default comes from QUORUM_AUTOMATION_SOLVER."""
    name = name or getattr(settings, "QUORUM_AUTOMATION_SOLVER", EmbeddingSolver.name)
    try:
        return SOLVERS[name]()
    except KeyError:
        raise ValueError(f"unknown solver '{name}'; known: {', '.join(sorted(SOLVERS))}") from None
