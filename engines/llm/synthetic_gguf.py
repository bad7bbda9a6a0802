"""Write a small random-weight llama GGUF that llama.cpp really loads and runs.

Used for plumbing tests (loads in milliseconds), for throughput benchmarks of a given shape
(e.g. a 7B-shaped model on a GPU workstation) and by `novamind doctor` as a self-test that
needs no model download. Its output is noise: it is never a model for analysis.
"""

from __future__ import annotations

import string
from dataclasses import dataclass
from pathlib import Path

import numpy as np

CHATML_TEMPLATE = (
    "{% for message in messages %}"
    "{{ '<|im_start|>' + message['role'] + '\n' + message['content'] + '<|im_end|>' + '\n' }}"
    "{% endfor %}"
    "{% if add_generation_prompt %}{{ '<|im_start|>assistant\n' }}{% endif %}"
)


@dataclass(frozen=True)
class TinyShape:
    """Architecture of the synthetic model (defaults: ~0.1 M parameters)."""

    n_embd: int = 64
    n_ff: int = 128
    n_layer: int = 2
    n_head: int = 4
    n_head_kv: int = 2
    n_ctx: int = 4096


def _vocab() -> tuple[list[str], list[float], list[int]]:
    """SentencePiece-style vocab: specials, chat tokens, 256 byte tokens, printable pieces."""
    import gguf

    normal, unknown, control, byte = (
        gguf.TokenType.NORMAL,
        gguf.TokenType.UNKNOWN,
        gguf.TokenType.CONTROL,
        gguf.TokenType.BYTE,
    )
    tokens = ["<unk>", "<s>", "</s>", "<|im_start|>", "<|im_end|>"]
    types = [unknown, control, control, control, control]
    tokens += [f"<0x{b:02X}>" for b in range(256)]
    types += [byte] * 256
    pieces = ["▁"] + [c for c in string.printable if c.strip() and c not in "\x0b\x0c"]
    pieces += ["▁" + c for c in string.ascii_letters]
    pieces += ["▁the", "▁and", "▁of", "▁to", "in", "er", "on", "ing", "ed", "re"]
    tokens += pieces
    types += [normal] * len(pieces)
    scores = [0.0] * (5 + 256) + [-float(i) for i in range(len(pieces))]
    return tokens, scores, [int(t) for t in types]


def write_tiny_llama(
    path: Path | str,
    shape: TinyShape | None = None,
    seed: int = 0,
    *,
    bos_token_id: int = 1,
    poison_first_tensor: float | None = None,
) -> Path:
    """Write a random-weight llama-architecture GGUF (f32) with a real tokenizer vocabulary.

    ``bos_token_id`` and ``poison_first_tensor`` (a value such as NaN written into the first
    weights) exist for the loader's sanity tests: hostile files built from a valid one.
    """
    import gguf

    s = shape or TinyShape()
    p = Path(path)
    p.parent.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    tokens, scores, types = _vocab()
    n_vocab = len(tokens)
    head_dim = s.n_embd // s.n_head
    n_embd_kv = head_dim * s.n_head_kv

    w = gguf.GGUFWriter(str(p), "llama")
    w.add_name("novamind-synthetic-llama")
    w.add_description("Random weights for plumbing tests and benchmarks; output is noise.")
    w.add_context_length(s.n_ctx)
    w.add_embedding_length(s.n_embd)
    w.add_block_count(s.n_layer)
    w.add_feed_forward_length(s.n_ff)
    w.add_head_count(s.n_head)
    w.add_head_count_kv(s.n_head_kv)
    w.add_rope_dimension_count(head_dim)
    w.add_layer_norm_rms_eps(1e-5)
    w.add_vocab_size(n_vocab)
    w.add_file_type(gguf.LlamaFileType.ALL_F32)
    w.add_tokenizer_model("llama")
    w.add_token_list(tokens)
    w.add_token_scores(scores)
    w.add_token_types(types)
    w.add_unk_token_id(0)
    w.add_bos_token_id(bos_token_id)
    w.add_eos_token_id(4)  # <|im_end|> ends a chat turn
    w.add_add_bos_token(True)
    w.add_add_eos_token(False)
    w.add_chat_template(CHATML_TEMPLATE)

    def t(name: str, *shape_: int, scale: float = 0.08) -> None:
        w.add_tensor(name, (rng.standard_normal(shape_) * scale).astype(np.float32))

    embd = (rng.standard_normal((n_vocab, s.n_embd)) * 1.0).astype(np.float32)
    if poison_first_tensor is not None:
        embd[3, 5] = poison_first_tensor
    w.add_tensor("token_embd.weight", embd)
    w.add_tensor("output_norm.weight", np.ones(s.n_embd, dtype=np.float32))
    out = (rng.standard_normal((n_vocab, s.n_embd)) * 0.08).astype(np.float32)
    # Zero logits for special tokens: with top-k sampling they are (almost) never drawn, so
    # generation runs to max_tokens (benchmarks) unless a grammar forces the end of turn.
    out[:5] = 0.0
    w.add_tensor("output.weight", out)
    for i in range(s.n_layer):
        w.add_tensor(f"blk.{i}.attn_norm.weight", np.ones(s.n_embd, dtype=np.float32))
        t(f"blk.{i}.attn_q.weight", s.n_embd, s.n_embd)
        t(f"blk.{i}.attn_k.weight", n_embd_kv, s.n_embd)
        t(f"blk.{i}.attn_v.weight", n_embd_kv, s.n_embd)
        t(f"blk.{i}.attn_output.weight", s.n_embd, s.n_embd)
        w.add_tensor(f"blk.{i}.ffn_norm.weight", np.ones(s.n_embd, dtype=np.float32))
        t(f"blk.{i}.ffn_gate.weight", s.n_ff, s.n_embd)
        t(f"blk.{i}.ffn_up.weight", s.n_ff, s.n_embd)
        t(f"blk.{i}.ffn_down.weight", s.n_embd, s.n_ff)
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()
    return p
