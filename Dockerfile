# Serving image: the pmed API, loading registered models by alias from an MLflow registry.
# Build: docker build -t pmed .   Run: docker run -p 8000:8000 -e PMED_TRACKING_URI=... -v pmed-home:/data pmed
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 PIP_NO_CACHE_DIR=1 \
    OMP_NUM_THREADS=1 \
    PMED_HOME=/data PMED_HOST=0.0.0.0 PMED_PORT=8000 \
    MLFLOW_ALLOW_PICKLE_DESERIALIZATION=false

WORKDIR /app

# Dependencies first, so code changes do not reinstall them.
COPY pyproject.toml README.md ./
RUN mkdir -p kernel features training serving pmed \
    && touch kernel/__init__.py features/__init__.py training/__init__.py serving/__init__.py pmed/__init__.py \
    && pip install . \
    && pip uninstall -y pmed

# Then the code.
COPY kernel ./kernel
COPY features ./features
COPY training ./training
COPY serving ./serving
COPY pmed ./pmed
COPY models ./models
RUN pip install --no-deps . \
    && useradd --system --uid 10001 --home-dir /data pmed \
    && mkdir -p /data && chown pmed /data

USER pmed
VOLUME ["/data"]
EXPOSE 8000
HEALTHCHECK --interval=30s --timeout=3s CMD python -c "import urllib.request,sys; urllib.request.urlopen('http://127.0.0.1:8000/health'); sys.exit(0)"
CMD ["pmed", "serve"]
