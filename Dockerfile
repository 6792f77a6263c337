# The ico-analytics image: `ico-analytics generate|migrate|maintain|...` and the Bytewax dataflow
# (`python -m bytewax.run dataflows.pipeline:flow`), as deployed by helm/ico-analytics.
#
# Two stages: the first builds the project's wheel, the second installs the locked runtime
# dependencies (requirements.lock, hashes required, binary wheels only) and that wheel, with no
# build tools, tests, dev dependencies or demo extra. Pin the base by digest for reproducible
# builds: --build-arg PYTHON_IMAGE=python:3.11-slim@sha256:<digest>.
ARG PYTHON_IMAGE=python:3.11-slim

FROM ${PYTHON_IMAGE} AS wheel
ENV PIP_DISABLE_PIP_VERSION_CHECK=1
WORKDIR /src
COPY pyproject.toml README.md ./
COPY ico_core ico_core
COPY sql sql
COPY schemas schemas
COPY generator generator
COPY dataflows dataflows
COPY ico_analytics ico_analytics
RUN pip wheel --no-cache-dir --no-deps --wheel-dir /wheels .

FROM ${PYTHON_IMAGE}
ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1
COPY requirements.lock /tmp/requirements.lock
RUN pip install --no-cache-dir --require-hashes --only-binary=:all: -r /tmp/requirements.lock \
    && rm /tmp/requirements.lock
COPY --from=wheel /wheels /tmp/wheels
RUN pip install --no-cache-dir --no-deps --no-index /tmp/wheels/*.whl \
    && rm -rf /tmp/wheels \
    && useradd --uid 10001 --user-group --no-create-home --home-dir /tmp --shell /usr/sbin/nologin app

# Non-root; the chart also runs it with a read-only root filesystem and /tmp as an emptyDir.
USER 10001:10001
ENV HOME=/tmp
WORKDIR /tmp

ENTRYPOINT ["ico-analytics"]
CMD ["--help"]
