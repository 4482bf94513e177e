"""Tiny real PEFT LoRA adapters for the serving tests and the swap bench.

lora_B is zero-initialised (a fresh adapter is a no-op), so it is filled with seeded noise
large enough that greedy output measurably departs from the base model, and differs between
seeds.
"""

from __future__ import annotations

from pathlib import Path


def make_lora_adapter(model_dir: Path, out_dir: Path, seed: int, scale: float = 0.25) -> Path:
    import torch
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM

    out_dir = Path(out_dir)
    if (out_dir / "adapter_config.json").is_file():
        return out_dir
    torch.manual_seed(seed)
    base = AutoModelForCausalLM.from_pretrained(model_dir, torch_dtype=torch.float32)
    model = get_peft_model(
        base, LoraConfig(r=8, lora_alpha=16, target_modules=["q_proj", "v_proj"], task_type="CAUSAL_LM")
    )
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, p in model.named_parameters():
            if "lora_B" in name:
                p.copy_(torch.randn(p.shape, generator=gen) * scale)
    tmp = out_dir.with_name(out_dir.name + ".tmp")
    model.save_pretrained(tmp)
    tmp.replace(out_dir)
    return out_dir


def make_lora_adapters(model_dir: Path, root: Path, seeds: tuple[int, ...] = (1, 2)) -> list[Path]:
    return [make_lora_adapter(model_dir, Path(root) / f"lora-seed{s}", s) for s in seeds]
