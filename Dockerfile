# The ico-analytics image: `ico-analytics generate|migrate|...` and the Bytewax dataflow
# (`python -m bytewax.run dataflows.pipeline:flow`), as deployed by helm/ico-analytics.
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

# The code reads sql/, schemas/ and generator/ico_websites.csv relative to the repository root,
# so the repository is installed in place (editable) rather than as a wheel.
WORKDIR /app
COPY . /app
RUN pip install --no-cache-dir -e /app \
    && useradd --uid 10001 --user-group --no-create-home --home-dir /tmp --shell /usr/sbin/nologin app

# Non-root; the chart also runs it with a read-only root filesystem and /tmp as an emptyDir.
USER 10001:10001
ENV HOME=/tmp

ENTRYPOINT ["ico-analytics"]
CMD ["--help"]
