# The image of every Vigil service in compose.yaml: `vigil <command>` (docs/deployment.md).
FROM python:3.11.12-slim-bookworm

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    VIGIL_VAR_DIR=/var/lib/vigil \
    NUMBA_CACHE_DIR=/var/cache/vigil/numba

# uid 1000 is also the EMQX image's user, so the broker can read the login file the one-shot
# `broker-users` service writes with mode 0600 into their shared volume.
RUN groupadd --gid 1000 vigil \
 && useradd --uid 1000 --gid vigil --no-create-home --home-dir /var/lib/vigil vigil \
 && install -d -o vigil -g vigil /var/lib/vigil /var/lib/vigil/broker /var/lib/vigil/detectors \
    /var/cache/vigil/numba

WORKDIR /opt/vigil
# Dependencies first, from pyproject.toml alone, so a code change does not reinstall them.
COPY pyproject.toml README.md ./
RUN mkdir -p vigil && touch vigil/__init__.py \
 && pip install --no-compile . \
 && pip uninstall --yes vigil \
 && rm -rf vigil build
COPY vigil ./vigil
COPY gateway ./gateway
COPY ingest ./ingest
COPY detectors ./detectors
COPY alerting ./alerting
COPY console ./console
COPY firmware_sim ./firmware_sim
RUN pip install --no-compile --no-deps . && rm -rf build

USER vigil
WORKDIR /var/lib/vigil
# numba's cache of the detector kernels (half a minute of CPU to compile) and of ingest's (the
# MessagePack reader, the checks, the COPY encoder, the liveness fold: several seconds), compiled
# once here; the ingest workers keep it in a volume (compose.yaml's numba-cache), so neither a
# first start nor a restart makes the first messages wait for the compiler.
RUN python -m detectors.aot --jit && python -m ingest.warm
EXPOSE 8000 9100
ENTRYPOINT ["vigil"]
CMD ["--help"]
