# syntax=docker/dockerfile:1.7
# torghut-ta-ops: one image, two components (ta-exporter, ta-remediator), picked by the first arg:
#   docker run IMAGE exporter serve --config /etc/torghut-ta-ops/exporter.yaml
#   docker run IMAGE remediator serve --config /etc/torghut-ta-ops/remediator.yaml
# The base is pinned by exact tag; in CI pin it by digest as well:
#   python:3.11.11-slim-bookworm@sha256:<digest from `docker buildx imagetools inspect`>

# --- builder: may compile; produces wheels for the project and every dependency -------------
FROM python:3.11.11-slim-bookworm AS builder
ENV PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1
# Compilers only for dependencies without a wheel for this platform; they stay in this stage.
RUN apt-get update \
    && apt-get install -y --no-install-recommends build-essential \
    && rm -rf /var/lib/apt/lists/*
WORKDIR /src
COPY pyproject.toml README.md constraints.txt ./
COPY exporter ./exporter
COPY remediator ./remediator
# constraints.txt pins every runtime dependency to what the tests ran against (`make constraints`).
RUN pip wheel --wheel-dir /wheels -c constraints.txt .

# --- runtime: the wheels installed into a venv; no compilers, no sources, no pip -------------
FROM python:3.11.11-slim-bookworm AS runtime
LABEL org.opencontainers.image.title="torghut-ta-ops" \
      org.opencontainers.image.description="Exporter and remediator for the Torghut TA pipeline" \
      org.opencontainers.image.licenses="Proprietary"
ENV PATH=/opt/venv/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1
# git (and ssh for an ssh:// remote) is a runtime need: the remediator's GitOps actuator runs it
# (remediator/actuators/gitrepo.py) to clone, commit and push its changes.
RUN apt-get update \
    && apt-get install -y --no-install-recommends git openssh-client \
    && rm -rf /var/lib/apt/lists/*
RUN groupadd --system --gid 10001 ta \
    && useradd --system --uid 10001 --gid 10001 --no-create-home \
       --home-dir /nonexistent --shell /usr/sbin/nologin ta
# Bind-mount the wheels instead of copying them, so they never land in a layer.
RUN --mount=type=bind,from=builder,source=/wheels,target=/wheels \
    --mount=type=bind,from=builder,source=/src/constraints.txt,target=/tmp/constraints.txt \
    python -m venv /opt/venv \
    && /opt/venv/bin/pip install --no-index --find-links /wheels -c /tmp/constraints.txt \
       torghut-ta-ops \
    && /opt/venv/bin/pip uninstall -y pip
# The journal lives here (a PVC in Kubernetes); owned by the runtime user for plain `docker run`.
RUN install -d -o 10001 -g 10001 -m 0750 /var/lib/torghut-ta-ops
WORKDIR /var/lib/torghut-ta-ops
USER 10001:10001
EXPOSE 9108 8080
ENTRYPOINT ["/bin/sh", "-c", "case \"$0\" in exporter|remediator) exec /opt/venv/bin/ta-\"$0\" \"$@\" ;; *) echo \"usage: exporter|remediator ARGS... (got: $0)\" >&2; exit 64 ;; esac"]
CMD ["exporter", "serve", "--config", "/etc/torghut-ta-ops/exporter.yaml"]
