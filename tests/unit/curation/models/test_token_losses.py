"""Token-level passes: batches bucketed by length with padding masked out; a row's loss is the same
alone or beside longer rows; the summed evaluation loss and mean pooling agree with plain torch."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch.nn import functional as F
from transformers import AutoModelForCausalLM

from curation.formats.base import IGNORE
from curation.models.token_losses import Batcher, mean_pooled, row_losses, summed_loss

ENCODED = [([5, 6, 7, 8, 9], [IGNORE, IGNORE, 7, 8, 9]), ([10, 11], [IGNORE, 11]), ([12, 13, 14], [IGNORE, 13, 14])]


def test_batches_are_bucketed_by_length_and_padded_with_the_pad_id():
    batcher = Batcher(pad_id=0, device=torch.device("cpu"))
    batches = list(batcher(ENCODED, 2))
    assert [index for index, *_ in batches] == [[1, 2], [0]]  # shortest first, positions kept
    index, ids, labels, mask = batches[0]
    assert ids.tolist() == [[10, 11, 0], [12, 13, 14]] and mask.tolist() == [[1, 1, 0], [1, 1, 1]]
    assert labels[0, 2] == IGNORE and batcher.one(ENCODED)[1].shape == (3, 5)


def test_a_rows_loss_does_not_depend_on_its_batch(tiny_lm):
    lm = AutoModelForCausalLM.from_pretrained(tiny_lm).eval()
    batcher = Batcher(pad_id=0, device=torch.device("cpu"))
    with torch.inference_mode():
        together = np.zeros(3)
        for index, ids, labels, mask in batcher(ENCODED, 3):
            together[index] = row_losses(lm, ids, mask, labels).numpy()
        alone = [float(row_losses(lm, *_ids_mask_labels(batcher.one([row])))[0]) for row in ENCODED]
        np.testing.assert_allclose(together, alone, rtol=1e-5)
        _, ids, labels, mask = batcher.one(ENCODED[:1])
        logits = lm(input_ids=ids).logits[0, :-1]
        expected = F.cross_entropy(logits[1:], ids[0, 2:])  # the labelled tokens 7, 8, 9
        assert abs(alone[0] - float(expected)) < 1e-5
        total, tokens = summed_loss(lm, ids, mask, labels)
        assert tokens == 3 and abs(total - 3 * float(expected)) < 1e-4


def _ids_mask_labels(batch):
    _, ids, labels, mask = batch
    return ids, mask, labels


def test_mean_pooling_leaves_the_padding_out(tiny_lm):
    lm = AutoModelForCausalLM.from_pretrained(tiny_lm).eval()
    batcher = Batcher(pad_id=0, device=torch.device("cpu"))
    with torch.inference_mode():
        _, ids, _, mask = batcher.one(ENCODED)
        pooled = mean_pooled(lm.get_decoder(), ids, mask)
        short = mean_pooled(lm.get_decoder(), *(lambda b: (b[1], b[3]))(batcher.one(ENCODED[1:2])))
    position = int((ids[:, :2] == torch.tensor([10, 11])).all(1).nonzero()[0])
    assert pooled.dtype == np.float32 and np.allclose(pooled[position], short[0], atol=1e-5)


def test_a_batch_that_runs_out_of_device_memory_is_split_and_the_rest_go_smaller(tiny_lm):
    """The back-off: a device holding at most 2 rows of this width (its OutOfMemoryError raised as a GPU
    raises it, since a CPU has none to give) still scores every row, each as it scores alone."""
    lm = AutoModelForCausalLM.from_pretrained(tiny_lm).eval()
    batcher = Batcher(pad_id=0, device=torch.device("cpu"))
    rows = ENCODED * 4  # 12 rows
    tried, out = [], np.zeros(len(rows))

    def work(batch) -> None:
        index, ids, labels, mask = batch
        tried.append(len(index))
        if len(index) > 2:
            raise torch.OutOfMemoryError("CUDA out of memory. Tried to allocate 2.00 GiB")
        with torch.inference_mode():
            out[index] = row_losses(lm, ids, mask, labels).numpy()

    assert batcher.each(rows, 8, work) == 2
    assert tried[:3] == [8, 4, 2] and max(tried[3:]) <= 2  # halved until it fits, then kept small
    with torch.inference_mode():
        alone = [float(row_losses(lm, *_ids_mask_labels(batcher.one([row])))[0]) for row in rows]
    np.testing.assert_allclose(out, alone, rtol=1e-5)

    def never_fits(batch) -> None:
        raise torch.OutOfMemoryError("CUDA out of memory")

    with pytest.raises(torch.OutOfMemoryError):  # one row that does not fit is the caller's to report
        batcher.each(rows, 8, never_fits)
