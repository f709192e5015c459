"""The bundled all-MiniLM-L6-v2 model, loaded once from the installed package (no download)."""

import numpy as np
import pytest

from tasks.automation import embeddings
from tasks.automation.solvers import EmbeddingSolver, get_solver

pytestmark = pytest.mark.model

POSITIVE = ["what a lovely sunny day", "sunshine and blue skies, perfect", "warm and bright, I love it",
            "beautiful weather for the beach", "clear skies and a gentle breeze", "gorgeous spring morning"]  # fmt: skip
NEGATIVE = ["this rain is miserable", "cold, wet and grey again", "the storm ruined my whole day",
            "freezing wind, I hate this weather", "soaked on the way to work", "endless drizzle, so gloomy"]  # fmt: skip


def test_embedding_solver_learns_from_real_sentence_embeddings(monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    solver = get_solver("embedding")
    assert isinstance(solver, EmbeddingSolver)
    texts = POSITIVE + NEGATIVE
    x = solver.encode(texts)
    assert x.shape == (12, embeddings.DIMENSIONS) and x.dtype == np.float32
    assert np.allclose(np.linalg.norm(x, axis=1), 1, atol=1e-4)
    solver.fit(x, np.array([0] * 6 + [1] * 6), 2)
    probs = solver.predict_proba(solver.encode(["a bright sunny afternoon", "heavy rain and thunder all night"]))
    assert probs.argmax(axis=1).tolist() == [0, 1]
    assert embeddings.get_model() is embeddings.get_model()  # loaded once per process
