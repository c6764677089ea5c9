# CPU worker image: the project installed from its own pyproject (no second dependency list).
# Build from the repository root:  docker build -f dockerfiles/cpu-worker.Dockerfile -t curate-cpu .
# Runs a Prefect process worker (infra/docker-compose.yml); `curate` is on the PATH as well.
FROM python:3.11-slim
ENV PIP_NO_CACHE_DIR=1 PYTHONUNBUFFERED=1 PREFECT_SERVER_ANALYTICS_ENABLED=false DO_NOT_TRACK=1
WORKDIR /opt/curate
# torch==2.13.0 is pinned in pyproject; the CPU index keeps the image free of CUDA libraries.
RUN pip install --index-url https://download.pytorch.org/whl/cpu torch==2.13.0
COPY pyproject.toml README.md ./
COPY curation ./curation
COPY flows ./flows
COPY tasks ./tasks
COPY infra ./infra
RUN pip install . && curate --help >/dev/null
CMD ["prefect", "worker", "start", "--pool", "cpu", "--type", "process"]
