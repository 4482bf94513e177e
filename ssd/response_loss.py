"""Cross-entropy on the response tokens, with the output head run only where the loss is taken.

Why: HF's causal-LM loss runs the output head at every position, prompt and padding included, and
then ignores those positions. For SmolLM2-135M the head (576 x 49,152) is about a fifth of the
multiply-adds per token, and a micro-batch of 2 x 1,024 positions has 400 MB of fp32 logits to
write, soft-max and back-propagate. Here the backbone runs as before and the head runs on the
positions whose next token is a label. The loss is HF's ``ForCausalLMLoss``: the sum over label
tokens, divided by the accumulated batch's label count when the Trainer passes it (else the
mean). ``tests/test_response_loss.py`` checks value and gradients against HF's loss.

Only for model families whose logits are the plain head of the last hidden state (no logit
scaling or soft-capping) and for one-process training (DDP's gradient hooks need its own
forward); otherwise the Trainer's own loss runs.
"""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F
from transformers import Trainer

IGNORE_INDEX = -100  # label value cross-entropy skips
# logits = lm_head(final hidden state) with nothing after it, in the installed transformers.
PLAIN_HEAD_MODEL_TYPES = frozenset({"llama", "mistral", "qwen2", "qwen3"})


def _causal_lm(model: Any) -> Any:
    """The ``*ForCausalLM`` module under PEFT's wrappers (LoRA layers stay in place inside it)."""
    get_base = getattr(model, "get_base_model", None)
    return get_base() if callable(get_base) else model


def supports_response_loss(model: Any) -> bool:
    lm = _causal_lm(model)
    config = getattr(lm, "config", None)
    return (
        getattr(config, "model_type", None) in PLAIN_HEAD_MODEL_TYPES
        and getattr(config, "final_logit_softcapping", None) is None
        and isinstance(getattr(lm, "model", None), torch.nn.Module)
        and lm.get_output_embeddings() is not None
    )


def response_loss(
    model: Any,
    input_ids: torch.Tensor,
    attention_mask: torch.Tensor,
    labels: torch.Tensor,
    num_items_in_batch: torch.Tensor | int | None = None,
) -> torch.Tensor:
    lm = _causal_lm(model)
    hidden = lm.model(input_ids=input_ids, attention_mask=attention_mask).last_hidden_state
    targets = labels[:, 1:]  # position t predicts token t + 1
    keep = targets != IGNORE_INDEX
    logits = lm.get_output_embeddings()(hidden[:, :-1][keep]).float()
    total = F.cross_entropy(logits, targets[keep], reduction="sum")
    if num_items_in_batch is None:
        return total / keep.sum().clamp(min=1)
    if isinstance(num_items_in_batch, torch.Tensor):
        num_items_in_batch = num_items_in_batch.to(total.device)
    return total / num_items_in_batch


class ResponseLossTrainer(Trainer):
    """``Trainer`` whose training loss is :func:`response_loss` where that applies."""

    def __init__(self, *args: Any, response_logits_only: bool = True, **kwargs: Any):
        super().__init__(*args, **kwargs)
        self.response_logits_only = (
            response_logits_only and self.args.world_size == 1 and supports_response_loss(self.model)
        )

    def compute_loss(self, model, inputs, return_outputs=False, num_items_in_batch=None):
        if return_outputs or not self.response_logits_only:
            return super().compute_loss(model, inputs, return_outputs, num_items_in_batch)
        # Normalised over the whole accumulated batch when the count is given, so the Trainer
        # must not divide it by the accumulation steps again.
        self.loss_is_scaled_for_ga = num_items_in_batch is not None
        return response_loss(model, inputs["input_ids"], inputs["attention_mask"], inputs["labels"], num_items_in_batch)
