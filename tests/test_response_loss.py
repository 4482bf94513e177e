"""The response-only loss equals transformers' causal-LM loss, and the Trainer trains the same with it.

A tiny random Llama (the SmolLM2 family's architecture) with a LoRA whose B matrices are not
zero, right-padded rows with prompt and padding masked as the worker's collator builds them.
"""

from __future__ import annotations

import pytest
import torch
from peft import LoraConfig, get_peft_model
from transformers import LlamaConfig, LlamaForCausalLM, TrainingArguments

from ssd.response_loss import IGNORE_INDEX, ResponseLossTrainer, response_loss, supports_response_loss


def tiny_lora_llama(seed: int = 0):
    torch.manual_seed(seed)
    cfg = LlamaConfig(
        vocab_size=97,
        hidden_size=32,
        intermediate_size=64,
        num_hidden_layers=2,
        num_attention_heads=4,
        num_key_value_heads=2,
        max_position_embeddings=64,
    )
    lora = LoraConfig(
        r=4, lora_alpha=8, lora_dropout=0.0, target_modules=["q_proj", "v_proj", "down_proj"], init_lora_weights=False
    )
    return get_peft_model(LlamaForCausalLM(cfg), lora)


def rows(seed: int = 1) -> list[dict]:
    """Prompt tokens unlabelled, response labelled, lengths 5..18."""
    g = torch.Generator().manual_seed(seed)
    out = []
    for _ in range(8):
        n_prompt = int(torch.randint(2, 8, (1,), generator=g))
        n_resp = int(torch.randint(3, 11, (1,), generator=g))
        ids = torch.randint(1, 97, (n_prompt + n_resp,), generator=g).tolist()
        out.append({"input_ids": ids, "labels": [IGNORE_INDEX] * n_prompt + ids[n_prompt:]})
    return out


def collate(batch: list[dict]) -> dict:
    longest = max(len(b["input_ids"]) for b in batch)
    ids = torch.zeros((len(batch), longest), dtype=torch.long)
    labels = torch.full((len(batch), longest), IGNORE_INDEX, dtype=torch.long)
    mask = torch.zeros((len(batch), longest), dtype=torch.long)
    for i, b in enumerate(batch):
        k = len(b["input_ids"])
        ids[i, :k], labels[i, :k], mask[i, :k] = torch.tensor(b["input_ids"]), torch.tensor(b["labels"]), 1
    return {"input_ids": ids, "labels": labels, "attention_mask": mask}


def lora_grads(model) -> dict[str, torch.Tensor]:
    return {n: p.grad.clone() for n, p in model.named_parameters() if p.requires_grad}


@pytest.mark.parametrize("num_items", [None, 61])
def test_value_and_gradients_equal_transformers_loss(num_items):
    model = tiny_lora_llama()
    batch = collate(rows()[:3])
    kwargs = {} if num_items is None else {"num_items_in_batch": torch.tensor(num_items)}
    theirs = model(**batch, **kwargs).loss
    theirs.backward()
    want = lora_grads(model)
    model.zero_grad()
    ours = response_loss(model, batch["input_ids"], batch["attention_mask"], batch["labels"], num_items)
    ours.backward()
    got = lora_grads(model)
    assert torch.allclose(ours, theirs, rtol=1e-5, atol=1e-6), (ours, theirs)
    assert want.keys() == got.keys() and want
    for name in want:
        assert torch.allclose(got[name], want[name], rtol=1e-4, atol=1e-7), name


class _ListDataset(torch.utils.data.Dataset):
    def __init__(self, items):
        self.items = items

    def __len__(self):
        return len(self.items)

    def __getitem__(self, i):
        return self.items[i]


def train(tmp_path, response_logits_only: bool):
    """Three optimizer steps of 2 micro-batches of 2 (so the accumulation scaling matters)."""
    model = tiny_lora_llama()
    head_inputs: list[tuple[int, ...]] = []
    model.get_base_model().lm_head.register_forward_hook(lambda m, args, out: head_inputs.append(tuple(args[0].shape)))
    args = TrainingArguments(
        output_dir=str(tmp_path / str(response_logits_only)),
        per_device_train_batch_size=2,
        gradient_accumulation_steps=2,
        max_steps=3,
        learning_rate=5e-2,
        lr_scheduler_type="constant",
        logging_steps=1,
        save_strategy="no",
        report_to="none",
        disable_tqdm=True,
        use_cpu=True,
        seed=0,
        data_seed=0,
        remove_unused_columns=False,
        dataloader_num_workers=0,
    )
    trainer = ResponseLossTrainer(
        model=model,
        args=args,
        train_dataset=_ListDataset(rows() * 2),
        data_collator=collate,
        response_logits_only=response_logits_only,
    )
    trainer.train()
    losses = [h["loss"] for h in trainer.state.log_history if "loss" in h]
    weights = {n: p.detach().clone() for n, p in model.named_parameters() if p.requires_grad}
    return trainer, losses, weights, head_inputs


def test_trainer_trains_the_same_with_the_head_only_on_labelled_positions(tmp_path):
    fast, fast_losses, fast_w, fast_head = train(tmp_path, True)
    slow, slow_losses, slow_w, slow_head = train(tmp_path, False)
    assert fast.response_logits_only and not slow.response_logits_only
    # The head saw only labelled positions (2-D: rows x hidden) on the fast path, every position
    # of the padded batch (3-D) on transformers' path.
    assert fast_head and all(len(s) == 2 for s in fast_head)
    assert slow_head and all(len(s) == 3 for s in slow_head)
    assert sum(s[0] for s in fast_head) < sum(s[0] * s[1] for s in slow_head)
    assert len(fast_losses) == len(slow_losses) == 3
    assert fast_losses == pytest.approx(slow_losses, rel=1e-4)
    for name in slow_w:
        assert torch.allclose(fast_w[name], slow_w[name], rtol=1e-4, atol=1e-6), name


def test_models_with_scaled_logits_keep_transformers_loss():
    model = tiny_lora_llama()
    assert supports_response_loss(model)
    model.get_base_model().config.final_logit_softcapping = 30.0
    assert not supports_response_loss(model)
