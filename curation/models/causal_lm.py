"""Causal-LM adapter: a local Hugging Face model; θT is a small-rank LoRA on it (peft).

θ0 is the same model with the adapter disabled: one copy of the weights in memory, both endpoint
passes run on a batch while it is on the device. Loss: the mean per-token loss on the tokens the
rows' format labels (`curation.formats`). Its parts by job: loading (`local_model`), where LoRA goes
(`lora`), token batches and losses (`token_losses`), the training loop (`training`), θ1/θT tensors
(`warm_states`) and gradients (`causal_lm_gradients`); this class switches between the states.
"""

from __future__ import annotations

import contextlib
import json
import os
import threading

import numpy as np
import pandas as pd
import torch
from peft import PeftModel, get_peft_model

from curation.formats import detect, format_named
from curation.formats.base import Encoded, Reading
from curation.formats.tokens import tokens_of
from curation.models.base import FinetuneConfig, ModelAdapter, Start, WarmupConfig
from curation.models.causal_lm_gradients import LoRAGradients
from curation.models.local_model import directory_fingerprint, load_local_model
from curation.models.lora import WARMUP_ADAPTER, lora_config, merged_states, refuse_unknown_layout
from curation.models.token_losses import Batch, Batcher, mean_pooled, row_losses, summed_loss
from curation.models.training import Steps, train
from curation.models.warm_states import WarmStates, full_parameters
from curation.rows import SCORE_IDS_COLUMN, SCORE_LABELS_COLUMN


class CausalLMAdapter(LoRAGradients, ModelAdapter):
    kind = "text"
    metric = "loss"
    higher_is_better = False

    def __init__(self, reading: Reading | str, row_format: str | None = None, device: str | None = None):
        """θ0 from a local model directory (`reading`: the directory alone, or with the token limit, the
        spans and the truncation), reading rows of `row_format` (None: detected from each call's columns)."""
        reading = reading if isinstance(reading, Reading) else Reading(reading, 256)
        model_dir, max_length, spans = reading.model, reading.max_length, (reading.loss_on, reading.score_on)
        self.device = torch.device(device or ("cuda" if torch.cuda.is_available() else "cpu"))
        self.gpus = int(self.device.type == "cuda")
        self.model_dir = model_dir
        self.tokenizer, base = load_local_model(model_dir, self.device)
        self.model_type = base.config.model_type
        refuse_unknown_layout(base)
        self.parameters = sum(p.numel() for p in base.parameters())
        self.base = base
        self.model: PeftModel | None = None  # the base wrapped with adapters, once one exists
        self.warm_states: WarmStates | None = None  # θ1 and θT of what the warmup trains
        self.warm_scope: str | None = None
        self._lock = threading.Lock()
        pad_id = self.tokenizer.pad_token_id
        self._batches = Batcher(pad_id if pad_id is not None else (self.tokenizer.eos_token_id or 0), self.device)
        # Never more positions than the model has; as the target checks tokenize (curation.formats.tokens).
        # Chat rows: the training span (warmup, finetunes, their evaluation) and the score's span
        # (the endpoint losses and the calibration's judge); curation.formats.base.Tokens.
        self.tokens = tokens_of(self.tokenizer, model_dir, max_length, spans[0], reading.truncation)
        self.score_tokens = self.tokens.spanning(spans[1])
        self.max_length, self.start_id = self.tokens.max_length, self.tokens.start_id
        # The rows' format, detected once at ingest; None (direct use, tests): detected from each call's columns.
        self.row_format = format_named(row_format) if row_format else None

    def fingerprint(self) -> str:
        return directory_fingerprint(self.model_dir)

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

    def _row_losses(self, ids: torch.Tensor, mask: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        """Each row's mean loss over its labelled tokens under the active adapters (token_losses.row_losses)."""
        return row_losses(self.model.get_base_model() if self.model is not None else self.base, ids, mask, labels)

    # --- warmup ---------------------------------------------------------------------------
    def _wrap(self, adapter: str, rank: int, alpha: int, scope: str) -> None:
        """A new LoRA adapter named `adapter` (curation.models.lora), made the active one."""
        config = lora_config(self.model_type, rank, alpha, scope)
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
            _, ids, labels, mask = self._batches.one(chunk)
            with self._adapters_off() if adapters_off else contextlib.nullcontext():
                return self._row_losses(ids, mask, labels).mean()

        module = self.model if self.model is not None else self.base
        optimizer = torch.optim.AdamW(params, lr=lr, weight_decay=0.0)
        train(module, optimizer, len(encoded), steps, batch_loss)

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
            return full_parameters(self.base)
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

        def step_done(step: int) -> bool:
            if step == 1:
                self.warm_states.keep("theta1")
            return bool(on_step(step)) if on_step else False

        try:
            steps = Steps(config.steps, config.batch_size, config.seed, progress, step_done)
            self._train(list(params.values()), rows, config.lr, steps, adapters_off=full)
        except BaseException:  # interrupted: θ0's weights go back in place, nothing half-trained stays
            self._drop_warm()
            raise
        for p in params.values():
            p.requires_grad_(False)
        self.warm_states.finish(back_to="theta0" if full else None)  # the base weights are θ0 again

    def save_warm(self, directory: str, key: str | None = None) -> None:
        self.warm_states.save(directory)
        with open(os.path.join(directory, "warmup.json"), "w", encoding="utf-8") as handle:
            json.dump(self._warm_meta, handle)
        self.warm_key = key

    def load_warm(self, directory: str, key: str | None = None) -> None:
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
        self.warm_states, self.warm_scope, self._warm_meta, self.warm_key = states, config.scope, meta, key
        if self.model is not None:
            self.model.eval()

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

    @contextlib.contextmanager
    def _passes(self, states: tuple[str, ...]):
        """`at(state)`, the model at each of `states` for a scoring pass: a float32 LoRA warmup's states merged
        into plain weights, swapped in with the adapters off (curation.models.lora.merged_states), else
        LoRA's own switching (`_at`)."""
        if self.warm_scope != "full":
            self.model.set_adapter(WARMUP_ADAPTER)
        if self.warm_scope == "full" or self.base.dtype != torch.float32:
            yield self._at
            return
        merged = merged_states(self.model, self.warm_states, states)
        with self.model.disable_adapter():
            yield merged.holding

    @torch.inference_mode()
    def losses(self, rows, state: str, batch_size=None, progress=None) -> np.ndarray:
        out = np.zeros(len(rows))

        def work(batch: Batch) -> None:
            index, ids, labels, mask = batch
            with at(state):
                out[index] = self._row_losses(ids, mask, labels).double().cpu().numpy()
            if progress:
                progress(len(index))

        with self._lock, self._passes((state,)) as at:
            self._batches.each(self.encode(rows, scoring=True), batch_size or 32, work)
        return out

    @torch.inference_mode()
    def endpoint_losses(self, rows, batch_size=None, progress=None, start: Start = "theta0"):
        encoded = self.encode(rows, scoring=True)
        first, warm = np.zeros(len(encoded)), np.zeros(len(encoded))

        def work(batch: Batch) -> None:  # both passes of a batch; a batch that did not fit is split (token_losses)
            index, ids, labels, mask = batch
            with at(start):
                first[index] = self._row_losses(ids, mask, labels).double().cpu().numpy()
            with at("warm"):
                warm[index] = self._row_losses(ids, mask, labels).double().cpu().numpy()
            if progress:
                progress(len(index))

        with self._lock, self._passes((start, "warm")) as at:  # shards on threads: one switch at a time
            self._batches.each(encoded, batch_size or 32, work)
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

            def work(batch: Batch) -> None:
                out[batch[0]] = mean_pooled(decoder, batch[1], batch[3])

            self._batches.each(encoded, batch_size or 32, work)
        return out

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
            batch_loss, batch_tokens = summed_loss(self.model, ids, mask, labels)
            losses, tokens = losses + batch_loss, tokens + batch_tokens
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
