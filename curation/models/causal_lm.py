"""Causal-LM adapter: a local Hugging Face model; θT is a small-rank LoRA on it (peft).

θ0 is the same model with the adapter disabled, so one copy of the weights sits in memory and
both endpoint passes run on a batch while it is on the device. Loss is the mean per-token loss
on the tokens the rows' format labels (`curation.formats`: the response of `prompt`/`response`
rows, every token of `text` rows).
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import re
import threading

import numpy as np
import pandas as pd
import torch
from peft import LoraConfig, PeftModel, get_peft_model
from torch.nn import functional as F
from transformers import AutoModelForCausalLM, AutoTokenizer

from curation.errors import InputError
from curation.formats import detect, format_named
from curation.formats.base import IGNORE, Encoded, Reading
from curation.formats.tokens import tokens_of
from curation.hashing import file_digest
from curation.models.base import FinetuneConfig, ModelAdapter, PerRowGradients, Start, WarmupConfig
from curation.models.training import Steps, train
from curation.models.warm_states import WarmStates
from curation.rows import SCORE_IDS_COLUMN, SCORE_LABELS_COLUMN

WARMUP_ADAPTER = "warmup"
FULL_PARAMETER_LIMIT = 200_000_000  # a full-scope warmup of a larger model trains its top quarter of blocks only
GRADCOS_ADAPTER = "gradcos"  # the gradcos baseline's own LoRA, trained on a sample of the pool


ATTENTION = ["q_proj", "k_proj", "v_proj", "o_proj"]
GATED_MLP = ["gate_proj", "up_proj", "down_proj"]
# Where LoRA goes, per architecture (config.json's model_type): the attention projections (scope
# `attention`: the warmup's, gradcos's) and every linear layer of the blocks (`wide`: the finetunes').
# GPT-2's c_proj is both the attention's output and the MLP's: a pattern tells them apart.
LORA_TARGETS: dict[str, tuple[list[str] | str, list[str]]] = {
    "gpt2": (r".*\.attn\.(c_attn|c_proj)", ["c_attn", "c_proj", "c_fc"]),
    **{
        model_type: (ATTENTION, ATTENTION + GATED_MLP)
        for model_type in ("llama", "qwen2", "qwen3", "mistral", "gemma", "gemma2", "gemma3_text")
    },
}


def _lora_targets(model_type: str, scope: str) -> tuple[list[str] | str, bool]:
    """LoRA target modules of a scope, and fan_in_fan_out: GPT-2 uses Conv1D layers, which need the flag."""
    attention, wide = LORA_TARGETS.get(model_type, (ATTENTION, ATTENTION + GATED_MLP))
    return (attention if scope == "attention" else wide), model_type == "gpt2"


def refuse_unknown_layout(model) -> None:
    """InputError if the model has no modules where this architecture's LoRA would go."""
    model_type = model.config.model_type
    attention, _ = LORA_TARGETS.get(model_type, (ATTENTION, None))
    names = {name.rsplit(".", 1)[-1] for name, _ in model.named_modules()}
    wanted = ["c_attn"] if model_type == "gpt2" else attention
    if not set(wanted) <= names:
        raise InputError(
            f"curate does not know where LoRA adapters go in a {model_type!r} model (no "
            f"{', '.join(sorted(set(wanted) - names))} modules); it knows {', '.join(sorted(LORA_TARGETS))}",
            field="--model",
        )


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


class CausalLMAdapter(ModelAdapter, PerRowGradients):
    kind = "text"
    metric = "loss"
    higher_is_better = False

    def __init__(self, reading: Reading | str, row_format: str | None = None, device: str | None = None):
        """θ0 from a local model directory (`reading`: the directory alone, or with the token limit, the
        spans and the truncation), reading rows of `row_format` (None: detected from each call's columns)."""
        reading = reading if isinstance(reading, Reading) else Reading(reading, 256)
        model_dir, max_length, spans = reading.model, reading.max_length, (reading.loss_on, reading.score_on)
        if not os.path.isdir(model_dir) or not os.path.exists(os.path.join(model_dir, "config.json")):
            raise InputError(
                "not a local Hugging Face model directory (needs config.json and weights); "
                "--model takes 'linear', 'mlp' or such a directory",
                field="--model",
                file=model_dir,
            )
        self.model_dir = model_dir
        refuse_custom_code(model_dir)
        self.device = torch.device(device or ("cuda" if torch.cuda.is_available() else "cpu"))
        dtype = torch.bfloat16 if self.device.type == "cuda" else torch.float32
        self.gpus = int(self.device.type == "cuda")
        try:  # never a model directory's own Python code: transformers must know the architecture
            self.tokenizer = AutoTokenizer.from_pretrained(model_dir, trust_remote_code=False, local_files_only=True)
            base = (
                AutoModelForCausalLM.from_pretrained(
                    model_dir, dtype=dtype, trust_remote_code=False, local_files_only=True
                )
                .to(self.device)
                .eval()
            )
        except (ValueError, OSError, KeyError) as err:
            raise InputError(
                f"transformers cannot load this model directory: {str(err).splitlines()[0]}",
                file=model_dir,
                field="--model",
            ) from None
        self.model_type = base.config.model_type
        refuse_unknown_layout(base)
        self.parameters = sum(p.numel() for p in base.parameters())
        self.base = base
        self.model: PeftModel | None = None  # the base wrapped with adapters, once one exists
        self.warm_states: WarmStates | None = None  # θ1 and θT of what the warmup trains
        self.warm_scope: str | None = None
        self._lock = threading.Lock()
        self.pad_id = (
            self.tokenizer.pad_token_id
            if self.tokenizer.pad_token_id is not None
            else (self.tokenizer.eos_token_id or 0)
        )
        # Never more positions than the model has; as the target checks tokenize (curation.formats.tokens).
        # Chat rows: the training span (warmup, finetunes, their evaluation) and the score's span
        # (the endpoint losses and the calibration's judge); curation.formats.base.Tokens.
        self.tokens = tokens_of(self.tokenizer, model_dir, max_length, spans[0], reading.truncation)
        self.score_tokens = self.tokens.spanning(spans[1])
        self.max_length, self.start_id = self.tokens.max_length, self.tokens.start_id
        # The rows' format, detected once at ingest; None (direct use, tests): detected from each call's columns.
        self.row_format = format_named(row_format) if row_format else None

    def fingerprint(self) -> str:
        digest = hashlib.sha256()
        for name in sorted(os.listdir(self.model_dir)):
            path = os.path.join(self.model_dir, name)
            if os.path.isfile(path):
                digest.update(name.encode())
                with open(path, "rb") as handle:
                    digest.update(file_digest(handle, os.path.getsize(path)).encode())
        return digest.hexdigest()

    def loss_settings(self) -> dict:
        # Truncation and precision change every loss; the span is the labelled tokens (responses,
        # or all tokens of `text` rows), named here so that a change to it must change the key.
        return {
            "max_length": self.max_length,
            "dtype": str(self.base.dtype),
            "device": self.device.type,
            "loss": "mean over labelled tokens",
            "loss_on": self.tokens.span,
            "score_on": self.score_tokens.span,
            "truncation": self.tokens.truncation,
        }

    # --- tokens ---------------------------------------------------------------------------
    def encode(self, rows: pd.DataFrame, scoring: bool = False) -> list[Encoded]:
        """(input ids, labels) per row, as the rows' format tokenizes them (labels IGNORE where no loss is
        taken), over the score's span when `scoring`, else the training span."""
        if scoring and SCORE_IDS_COLUMN in rows.columns and rows[SCORE_IDS_COLUMN].notna().all():
            # made by validation under the same reading settings (curation.rows.CARRIED_COLUMNS)
            return list(zip(rows[SCORE_IDS_COLUMN], rows[SCORE_LABELS_COLUMN]))
        row_format = self.row_format or detect(rows.columns, "text", "rows", "rows")
        return row_format.encode(rows, self.score_tokens if scoring else self.tokens)

    def _batches(self, encoded, batch_size: int):
        """Length-bucketed batches: rows sorted by length so padding stays small."""
        lengths = np.fromiter((len(ids) for ids, _ in encoded), dtype=np.int64, count=len(encoded))
        order = np.argsort(lengths, kind="stable")
        for start in range(0, len(order), batch_size):
            index = order[start : start + batch_size]
            width = int(lengths[index].max())
            ids = np.full((len(index), width), self.pad_id, dtype=np.int64)
            labels = np.full((len(index), width), IGNORE, dtype=np.int64)
            for row, i in enumerate(index):
                n = lengths[i]
                ids[row, :n], labels[row, :n] = encoded[i]
            mask = (np.arange(width) < lengths[index][:, None]).astype(np.int64)
            yield (
                index.tolist(),
                torch.from_numpy(ids).to(self.device),
                torch.from_numpy(labels).to(self.device),
                torch.from_numpy(mask).to(self.device),
            )

    def _row_losses(self, ids: torch.Tensor, mask: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        """Mean next-token loss over each row's labelled tokens, under the active adapters.

        The output head runs only at positions whose next token carries a label: on short-prompt
        rows that is most positions, but padding and prompts cost nothing, and the loss is
        computed on a contiguous [tokens, vocab] block, far faster than on [batch, vocab, time].
        """
        lm = self.model.get_base_model() if self.model is not None else self.base
        hidden = lm.get_decoder()(input_ids=ids, attention_mask=mask).last_hidden_state
        target = labels[:, 1:]
        keep = target != IGNORE
        logits = lm.get_output_embeddings()(hidden[:, :-1][keep]).float()
        token = F.cross_entropy(logits, target[keep], reduction="none")
        rows = keep.nonzero()[:, 0]
        sums = torch.zeros(ids.shape[0], dtype=token.dtype, device=token.device).index_add_(0, rows, token)
        return sums / keep.sum(1).clamp(min=1)

    # --- warmup ---------------------------------------------------------------------------
    def _wrap(self, adapter: str, rank: int, alpha: int, scope: str) -> None:
        targets, fan_in_fan_out = _lora_targets(self.model_type, scope)
        config = LoraConfig(
            r=rank,
            lora_alpha=alpha,
            lora_dropout=0.0,
            target_modules=targets,
            fan_in_fan_out=fan_in_fan_out,
            task_type="CAUSAL_LM",
        )
        if self.model is None:
            self.model = get_peft_model(self.base, config, adapter_name=adapter)
        else:
            self.model.add_adapter(adapter, config)
        self.model.set_adapter(adapter)

    def _adapters_off(self):
        """Any LoRA adapter switched off (a full-scope warmup trains and scores the base weights)."""
        return self.model.disable_adapter() if self.model is not None else contextlib.nullcontext()

    def _train(
        self, params: list[torch.nn.Parameter], rows: pd.DataFrame, lr: float, steps: Steps, adapters_off: bool = False
    ) -> None:
        """Train `params` on the rows' trained tokens (AdamW, no weight decay), LoRA off when `adapters_off`."""
        encoded = self.encode(rows)

        def batch_loss(positions: list[int]) -> torch.Tensor:
            chunk = [encoded[i] for i in positions]
            _, ids, labels, mask = next(self._batches(chunk, len(chunk)))
            with self._adapters_off() if adapters_off else contextlib.nullcontext():
                return self._row_losses(ids, mask, labels).mean()

        module = self.model if self.model is not None else self.base
        optimizer = torch.optim.AdamW(params, lr=lr, weight_decay=0.0)
        train(module, optimizer, len(encoded), steps, batch_loss)

    def _full_parameters(self) -> dict[str, torch.nn.Parameter]:
        """The base model's own parameters (no LoRA's), under names that do not depend on adapters;
        a model above FULL_PARAMETER_LIMIT gives its top quarter of blocks only."""
        named = [(n.replace(".base_layer", ""), p) for n, p in self.base.named_parameters() if "lora_" not in n]
        if sum(p.numel() for _, p in named) <= FULL_PARAMETER_LIMIT:
            return dict(named)
        blocks = {n: int(m.group(1)) for n, _ in named if (m := re.search(r"\.(?:h|layers)\.(\d+)\.", n))}
        count = max(blocks.values()) + 1
        first = count - max(1, count // 4)
        return {n: p for n, p in named if blocks.get(n, -1) >= first}

    def _drop_warm(self) -> None:
        """Forget the θT this process holds: a run on another validation set brings its own."""
        if self.warm_scope == "full" and self.warm_states.live != "theta0":  # a warmup cut short: θ0 back in place
            self.warm_states.finish(back_to="theta0")
        if self.model is not None and WARMUP_ADAPTER in self.model.peft_config:
            self.release(WARMUP_ADAPTER)
        self.warm_states, self.warm_scope, self.warm_key = None, None, None

    def _warm_parameters(self, config: WarmupConfig) -> dict[str, torch.nn.Parameter]:
        """What a warmup of `config`'s scope trains: a fresh LoRA adapter's parameters, or the base's own."""
        if config.scope == "full":
            return self._full_parameters()
        self._wrap(WARMUP_ADAPTER, config.lora_rank, config.lora_alpha, config.scope)
        return {n: p for n, p in self.model.named_parameters() if f".{WARMUP_ADAPTER}." in n}

    def warmup(self, rows, config: WarmupConfig, progress=None, on_step=None) -> None:
        self._drop_warm()
        torch.manual_seed(config.seed)
        full = config.scope == "full"
        params = self._warm_parameters(config)
        for p in self.base.parameters():
            p.requires_grad_(False)
        for p in params.values():
            p.requires_grad_(True)
        self.warm_states, self.warm_scope = WarmStates(params, live="warm"), config.scope
        self._warm_meta = {"scope": config.scope, "lora_rank": config.lora_rank, "lora_alpha": config.lora_alpha}
        if full:
            self.warm_states.keep("theta0")

        def step_done(step: int) -> None:
            if step == 1:
                self.warm_states.keep("theta1")
            if on_step:
                on_step(step)

        try:
            steps = Steps(config.steps, config.batch_size, config.seed, progress, step_done)
            self._train(list(params.values()), rows, config.lr, steps, adapters_off=full)
        except BaseException:  # interrupted: θ0's weights go back in place, nothing half-trained stays
            self._drop_warm()
            raise
        for p in params.values():
            p.requires_grad_(False)
        self.warm_states.finish(back_to="theta0" if full else None)  # the base weights are θ0 again

    def save_warm(self, directory: str) -> None:
        self.warm_states.save(directory)
        with open(os.path.join(directory, "warmup.json"), "w", encoding="utf-8") as handle:
            json.dump(self._warm_meta, handle)

    def load_warm(self, directory: str) -> None:
        with open(os.path.join(directory, "warmup.json"), encoding="utf-8") as handle:
            meta = json.load(handle)
        self._drop_warm()
        config = WarmupConfig(scope=meta["scope"], lora_rank=meta["lora_rank"], lora_alpha=meta["lora_alpha"])
        params = self._warm_parameters(config)
        for p in params.values():
            p.requires_grad_(False)
        states = WarmStates(params, live="theta0" if config.scope == "full" else "warm")
        try:
            states.load(directory)
        except BaseException:
            self._drop_warm()
            raise
        self.warm_states, self.warm_scope, self._warm_meta = states, config.scope, meta
        if self.model is not None:
            self.model.eval()

    def warm_gradient(self, rows) -> np.ndarray:
        params = list(self.warm_states.params.values())
        grads = [torch.zeros_like(p, dtype=torch.float32) for p in params]
        encoded = self.encode(rows, scoring=True)
        with torch.enable_grad(), self._at("warm"):
            for p in params:
                p.requires_grad_(True)
            for _, ids, labels, mask in self._batches(encoded, 32):
                loss = self._row_losses(ids, mask, labels).sum() / len(encoded)
                for total, g in zip(grads, torch.autograd.grad(loss, params)):
                    total += g.float()
        return torch.cat([g.flatten() for g in grads]).cpu().numpy()

    # --- scoring --------------------------------------------------------------------------
    @contextlib.contextmanager
    def _at(self, state: str):
        """The model is θ0, θ1 (`theta1`) or θT (`warm`) inside the block."""
        if state == "theta0" and self.warm_scope != "full":
            with self.model.disable_adapter():
                yield
            return
        with self._adapters_off() if self.warm_scope == "full" else contextlib.nullcontext():
            with self.warm_states.holding(state):
                yield

    @torch.inference_mode()
    def endpoint_losses(self, rows, batch_size=None, progress=None, start: Start = "theta0"):
        # Shards may run on threads; switching the adapter off and on must not interleave.
        with self._lock:
            return self._endpoint_losses(rows, batch_size, progress, start)

    @torch.inference_mode()
    def losses(self, rows, state: str, batch_size=None) -> np.ndarray:
        out = np.zeros(len(rows))
        with self._lock:
            if self.warm_scope != "full":
                self.model.set_adapter(WARMUP_ADAPTER)
            for index, ids, labels, mask in self._batches(self.encode(rows, scoring=True), batch_size or 32):
                with self._at(state):
                    out[index] = self._row_losses(ids, mask, labels).double().cpu().numpy()
        return out

    def _endpoint_losses(self, rows, batch_size, progress, start):
        encoded = self.encode(rows, scoring=True)
        first = np.zeros(len(encoded))
        warm = np.zeros(len(encoded))
        if self.warm_scope != "full":
            self.model.set_adapter(WARMUP_ADAPTER)
        for index, ids, labels, mask in self._batches(encoded, batch_size or 32):
            with self._at(start):
                first[index] = self._row_losses(ids, mask, labels).double().cpu().numpy()
            with self._at("warm"):
                warm[index] = self._row_losses(ids, mask, labels).double().cpu().numpy()
            if progress:
                progress(len(index))
        return first, warm

    @torch.inference_mode()
    def embed(self, rows, batch_size=None) -> np.ndarray:
        """RDS+-style: the base model's last hidden states, mean-pooled over each row's tokens."""
        encoded = self.encode(rows)
        out = np.zeros((len(encoded), self.base.config.hidden_size), dtype=np.float32)
        # LoRA layers sit inside the base model once an adapter exists: switch them off for θ0.
        adapters_off = self.model.disable_adapter() if self.model is not None else contextlib.nullcontext()
        with self._lock, adapters_off:
            decoder = self.base.get_decoder()
            for index, ids, _, mask in self._batches(encoded, batch_size or 32):
                hidden = decoder(input_ids=ids, attention_mask=mask).last_hidden_state.float()
                weights = mask.unsqueeze(-1).to(hidden.dtype)
                pooled = (hidden * weights).sum(1) / weights.sum(1).clamp(min=1)
                out[index] = pooled.cpu().numpy()
        return out

    # --- the gradcos baseline -------------------------------------------------------------
    def gradient_model(self, config: WarmupConfig):
        torch.manual_seed(config.seed)
        self._wrap(GRADCOS_ADAPTER, config.lora_rank, config.lora_alpha, "attention")
        return [(name, p) for name, p in self.model.named_parameters() if f".{GRADCOS_ADAPTER}." in name]

    def prepare(self, rows):
        return self.encode(rows)

    def gradient_loss(self, prepared, index, train):
        self.model.train(train)  # GPT-2's dropout: on while training, off for per-row gradients
        _, ids, labels, mask = next(self._batches([prepared[i] for i in index], len(index)))
        return self._row_losses(ids, mask, labels).mean()

    def drop_gradient_model(self) -> None:
        self.model.eval()
        self.release(GRADCOS_ADAPTER)

    # --- finetune and evaluate ------------------------------------------------------------
    def finetune(self, rows, config: FinetuneConfig, seed: int, name: str, progress=None):
        torch.manual_seed(seed)
        adapter = f"finetune-{name}"
        self._wrap(adapter, config.lora_rank, 2 * config.lora_rank, "wide")
        params = [p for n, p in self.model.named_parameters() if f".{adapter}." in n]
        self._train(params, rows, config.lr, Steps(config.steps_for(len(rows)), config.batch_size, seed, progress))
        return adapter

    @torch.inference_mode()
    def evaluate(self, trained: str, rows) -> dict[str, float]:
        self.model.set_adapter(trained)
        losses, tokens = 0.0, 0
        for _, ids, labels, mask in self._batches(self.encode(rows), 32):
            logits = self.model(input_ids=ids, attention_mask=mask).logits[:, :-1].float()
            target = labels[:, 1:]
            losses += float(F.cross_entropy(logits.transpose(1, 2), target, ignore_index=IGNORE, reduction="sum"))
            tokens += int((target != IGNORE).sum())
        loss = losses / max(tokens, 1)
        return {"loss": loss, "perplexity": float(np.exp(min(loss, 50.0)))}

    def release(self, trained: str) -> None:
        others = [name for name in self.model.peft_config if name != trained]
        if others:  # peft keeps at least one adapter; θT stays when it is there
            self.model.set_adapter(WARMUP_ADAPTER if WARMUP_ADAPTER in others else others[0])
            self.model.delete_adapter(trained)
        else:  # the last adapter (a run without θT): unwrap back to the plain base model
            self.base = self.model.unload()
            self.model = None
