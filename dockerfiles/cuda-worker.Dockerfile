# CUDA worker image: the project installed from its own pyproject (no second dependency list), with
# the CUDA build of the pinned torch. The host needs an NVIDIA driver and the container toolkit.
# Build from the repository root:  docker build -f dockerfiles/cuda-worker.Dockerfile -t curate-cuda .
FROM python:3.11-slim
ENV PIP_NO_CACHE_DIR=1 PYTHONUNBUFFERED=1 PREFECT_SERVER_ANALYTICS_ENABLED=false DO_NOT_TRACK=1 \
    NVIDIA_VISIBLE_DEVICES=all NVIDIA_DRIVER_CAPABILITIES=compute,utility
WORKDIR /opt/curate
# The wheel carries its CUDA runtime libraries; pick the index that matches the hosts' drivers.
ARG TORCH_INDEX=https://download.pytorch.org/whl/cu130
RUN pip install --index-url ${TORCH_INDEX} torch==2.13.0
COPY pyproject.toml README.md ./
COPY curation ./curation
COPY flows ./flows
COPY tasks ./tasks
COPY infra ./infra
RUN pip install . && curate --help >/dev/null
CMD ["prefect", "worker", "start", "--pool", "gpu", "--type", "process"]
