# One image for every role of the ship-edge AIOps platform (the Loki pattern):
#   docker run IMAGE serve ingest        one role (docker-compose.yml runs each this way)
#   docker run IMAGE up                  the embedded single node (every role, one process)
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

# torch first, the CPU build from the PyTorch wheel index, so sentence-transformers does not pull
# the CUDA build (the Makefile pins the same version). A mirror can be passed as a build arg.
ARG TORCH_INDEX_URL=https://download.pytorch.org/whl/cpu
RUN pip install --index-url "${TORCH_INDEX_URL}" torch==2.13.0

WORKDIR /app
COPY pyproject.toml README.md ./
COPY aiops_core ./aiops_core
COPY services ./services
RUN pip install .

# Policies, inventory and runbooks live beside the code; the settings below point at them so a
# deployment can mount its own over them.
COPY policies ./policies
COPY inventory ./inventory
COPY knowledge ./knowledge
COPY scripts/healthcheck.py ./scripts/healthcheck.py

RUN useradd --system --uid 10001 --user-group --home-dir /data --no-create-home --shell /usr/sbin/nologin aiops \
    && mkdir -p /data \
    && chown aiops:aiops /data
USER aiops

ENV DATA_DIR=/data \
    POLICIES_DIR=/app/policies \
    INVENTORY_FILE=/app/inventory/demo-ship.yaml \
    KNOWLEDGE_DIR=/app/knowledge
VOLUME ["/data"]
EXPOSE 8081 9108 1514/udp 1514/tcp

HEALTHCHECK --interval=15s --timeout=5s --start-period=90s --retries=5 \
    CMD ["python", "/app/scripts/healthcheck.py"]
ENTRYPOINT ["aiops"]
CMD ["up"]
