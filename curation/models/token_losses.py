"""A causal LM's token-level passes: rows in padded, length-bucketed batches; each row's mean loss
over its labelled tokens; the evaluation's summed loss; mean-pooled hidden states."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Iterator

import numpy as np
import torch
from torch.nn import functional as F

from curation.formats.base import IGNORE, Encoded

Batch = tuple[list[int], torch.Tensor, torch.Tensor, torch.Tensor]  # row positions, ids, labels, mask


@dataclass(frozen=True)
class Batcher:
    """Length-bucketed batches of encoded rows: sorted by length so padding stays small."""

    pad_id: int
    device: torch.device

    def __call__(self, encoded: list[Encoded], batch_size: int) -> Iterator[Batch]:
        for index in self.groups(encoded, batch_size):
            yield self.rows(encoded, index)

    @staticmethod
    def groups(encoded: list[Encoded], batch_size: int) -> Iterator[list[int]]:
        """The row positions of each batch: by length, so padding stays small."""
        lengths = np.fromiter((len(ids) for ids, _ in encoded), dtype=np.int64, count=len(encoded))
        order = np.argsort(lengths, kind="stable")
        for start in range(0, len(order), batch_size):
            yield order[start : start + batch_size].tolist()

    def rows(self, encoded: list[Encoded], index: list[int]) -> Batch:
        """The rows at `index` as one padded batch."""
        lengths = np.asarray([len(encoded[i][0]) for i in index], dtype=np.int64)
        width = int(lengths.max())
        ids = np.full((len(index), width), self.pad_id, dtype=np.int64)
        labels = np.full((len(index), width), IGNORE, dtype=np.int64)
        for row, i in enumerate(index):
            ids[row, : lengths[row]], labels[row, : lengths[row]] = encoded[i]
        mask = (np.arange(width) < lengths[:, None]).astype(np.int64)
        tensors = (torch.from_numpy(a).to(self.device) for a in (ids, labels, mask))
        return (list(index), *tensors)

    def each(self, encoded: list[Encoded], batch_size: int, work: Callable[[Batch], None]) -> int:
        """`work` on each batch, backing off on running out of device memory: the batch that did not fit
        is split in halves and the rest go at the smaller size (down to one row, whose failure is
        raised). Returns the batch size it ended at."""
        fits = batch_size
        for group in self.groups(encoded, batch_size):
            pending = [group]
            while pending:
                index = pending.pop(0)
                if len(index) > fits:
                    pending[:0] = [index[:fits], index[fits:]]
                    continue
                try:
                    work(self.rows(encoded, index))
                except torch.OutOfMemoryError:
                    if len(index) == 1:
                        raise
                    if self.device.type == "cuda":
                        torch.cuda.empty_cache()
                    fits = len(index) // 2
                    pending[:0] = [index[:fits], index[fits:]]
        return fits

    def one(self, encoded: list[Encoded]) -> Batch:
        """All of `encoded` as one batch."""
        return next(self(encoded, len(encoded)))


def row_losses(lm, ids: torch.Tensor, mask: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """Mean next-token loss over each row's labelled tokens, under `lm`'s active adapters.

    The output head runs only at positions whose next token carries a label: on short-prompt
    rows that is most positions, but padding and prompts cost nothing, and the loss is
    computed on a contiguous [tokens, vocab] block, far faster than on [batch, vocab, time].
    """
    hidden = lm.get_decoder()(input_ids=ids, attention_mask=mask, use_cache=False).last_hidden_state
    target = labels[:, 1:]
    keep = target != IGNORE
    logits = lm.get_output_embeddings()(hidden[:, :-1][keep]).float()
    token = F.cross_entropy(logits, target[keep], reduction="none")
    rows = keep.nonzero()[:, 0]
    sums = torch.zeros(ids.shape[0], dtype=token.dtype, device=token.device).index_add_(0, rows, token)
    return sums / keep.sum(1).clamp(min=1)


def summed_loss(model, ids: torch.Tensor, mask: torch.Tensor, labels: torch.Tensor) -> tuple[float, int]:
    """(the loss summed over the batch's labelled tokens, their count): a finetune's evaluation."""
    logits = model(input_ids=ids, attention_mask=mask).logits[:, :-1].float()
    target = labels[:, 1:]
    loss = float(F.cross_entropy(logits.transpose(1, 2), target, ignore_index=IGNORE, reduction="sum"))
    return loss, int((target != IGNORE).sum())


def mean_pooled(decoder, ids: torch.Tensor, mask: torch.Tensor) -> np.ndarray:
    """Each row's last hidden states averaged over its tokens (padding left out), float32."""
    hidden = decoder(input_ids=ids, attention_mask=mask, use_cache=False).last_hidden_state.float()
    weights = mask.unsqueeze(-1).to(hidden.dtype)
    return ((hidden * weights).sum(1) / weights.sum(1).clamp(min=1)).cpu().numpy()
