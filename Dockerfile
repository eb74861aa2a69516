# batch-uploader as a container image: `docker build -t batch-uploader .`
#
# Stage 1 builds the wheel from this checkout; stage 2 installs only that wheel and its
# dependencies on a clean base, and runs as a non-root user. The image works with a
# read-only root file system: it writes only the report (and metrics) to a mounted folder.
# The base is pinned by version (python:3.11, the version CI tests on); bump it with care.

FROM python:3.11.11-slim-bookworm AS build
WORKDIR /src
RUN pip install --no-cache-dir build==1.2.2
COPY pyproject.toml README.md ./
COPY batch_uploader/ batch_uploader/
COPY manifests/ manifests/
RUN python -m build --wheel --outdir /dist

FROM python:3.11.11-slim-bookworm
# No .pyc written at run time (the root file system may be read-only); logs go out unbuffered.
ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1
COPY --from=build /dist/ /tmp/dist/
# The wheel is this build's own; its dependencies resolve within pyproject.toml's ranges.
RUN pip install --no-cache-dir /tmp/dist/*.whl \
    && rm -rf /tmp/dist \
    && useradd --system --uid 10001 --no-create-home --shell /usr/sbin/nologin uploader
USER 10001
# Reports are written here: mount a volume (the only writable place the image needs).
WORKDIR /reports
ENTRYPOINT ["batch-uploader"]
CMD ["--help"]
