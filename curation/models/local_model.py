"""Loading a causal LM from a local Hugging Face directory, never running the directory's own code."""

from __future__ import annotations

import hashlib
import json
import os

import torch
from transformers import AutoModelForCausalLM, AutoTokenizer

from curation.errors import InputError
from curation.hashing import file_digest


def refuse_custom_code(model_dir: str) -> None:
    """InputError if the directory asks to run its own Python code (an `auto_map` in its configs).

    Such code would run with the curator's rights on every worker; transformers would ask at a
    terminal and fail without one. Refused before transformers reads anything.
    """
    for name in ("config.json", "tokenizer_config.json", "generation_config.json"):
        path = os.path.join(model_dir, name)
        if not os.path.exists(path):
            continue
        try:
            with open(path, encoding="utf-8") as handle:
                config = json.load(handle)
        except (OSError, ValueError) as err:
            raise InputError(f"unreadable model config: {err}", file=path, field="--model") from None
        if isinstance(config, dict) and config.get("auto_map"):
            raise InputError(
                "the model directory ships its own Python code (auto_map); curate never runs a "
                "model's code: use a model whose architecture transformers implements",
                file=path,
                field="auto_map",
            )


def load_local_model(model_dir: str, device: torch.device):
    """(tokenizer, model in eval mode on `device`): bfloat16 on a GPU, float32 on a CPU."""
    if not os.path.isdir(model_dir) or not os.path.exists(os.path.join(model_dir, "config.json")):
        raise InputError(
            "not a local Hugging Face model directory (needs config.json and weights); "
            "--model takes 'linear', 'mlp' or such a directory",
            field="--model",
            file=model_dir,
        )
    refuse_custom_code(model_dir)
    dtype = torch.bfloat16 if device.type == "cuda" else torch.float32
    try:  # never a model directory's own Python code: transformers must know the architecture
        tokenizer = AutoTokenizer.from_pretrained(model_dir, trust_remote_code=False, local_files_only=True)
        model = AutoModelForCausalLM.from_pretrained(
            model_dir, dtype=dtype, trust_remote_code=False, local_files_only=True
        )
    except (ValueError, OSError, KeyError) as err:
        raise InputError(
            f"transformers cannot load this model directory: {str(err).splitlines()[0]}",
            file=model_dir,
            field="--model",
        ) from None
    return tokenizer, model.to(device).eval()


def directory_fingerprint(model_dir: str) -> str:
    """A content hash of every file in the model directory: θ0's identity in the cache keys."""
    digest = hashlib.sha256()
    for name in sorted(os.listdir(model_dir)):
        path = os.path.join(model_dir, name)
        if os.path.isfile(path):
            digest.update(name.encode())
            with open(path, "rb") as handle:
                digest.update(file_digest(handle, os.path.getsize(path)).encode())
    return digest.hexdigest()
