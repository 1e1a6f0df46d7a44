"""A small transformer for a sequence task: data.kind = "sort" (eos_tui/data/sort.py).

Shapes, the convention every sequence model here follows:
- input: a batch of token sequences, (n, length) integers in [0, vocab); `input_shape` = (length,);
- output: (n, length, vocab) logits, one distribution over the vocabulary at every position;
- targets: (n, length) class indices (data/sort.py: the sorted row);
- the loss is over every position: the mean over the n·length positions of the per-position loss,
  which is the loss of the outputs flattened to (n·length, vocab) against the targets flattened to
  (n·length,) (cross-entropy; "mse": ½‖f − onehot(y)‖² per position). A chunk of examples is a
  chunk of rows of both.

The network: token embedding plus a learned position embedding, `layers` pre-LN blocks (layers.Block:
`heads`-head self-attention, an MLP of `mlp`·dim, GELU), a final LayerNorm and a linear head to the
vocabulary. No dropout.

`causal` (default false): position t attends to positions ≤ t only. data.kind = "sort" gives the
sequence-to-sequence layout, where the target at position j (the j-th smallest token) depends on
every token of the row, so each position must see the whole sequence; causal = true is for a
next-token layout (sort.py's `next_token`, the central-flows code's).

Sizes and init after the central-flows code's transformer (d_model 32, 4 heads, 4 layers, MLP 4·d,
Xavier uniform on every matrix, the head's initial weights × a multiplier whose default is 0, so the
network starts at uniform predictions: `head_scale`, which here scales the head's bias too). Not
theirs layer for layer: theirs is torch.nn's post-LN decoder layer (with a cross-attention to its
own input) and a sinusoidal position encoding; this is the pre-LN block the ViT uses.
"""

from __future__ import annotations

from typing import Sequence

import torch
from torch import nn

from .layers import Block, LayerNorm, scale_head


class Transformer(nn.Module):
    def __init__(self, length: int, vocab: int, dim: int, heads: int, layers: int, mlp: int, causal: bool, head_scale: float):
        super().__init__()
        self.tokens = nn.Embedding(vocab, dim)
        self.position = nn.Parameter(torch.empty(length, dim))
        self.blocks = nn.Sequential(*(Block(dim, heads, mlp, causal) for _ in range(layers)))
        self.norm = LayerNorm(dim)
        self.head = nn.Linear(dim, vocab)
        for p in self.parameters():
            if p.dim() > 1:
                nn.init.xavier_uniform_(p)
        scale_head(self.head, head_scale)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        # Tokens arrive as integers; as floats where a caller cast the data to the model's dtype
        # (exact for any vocabulary below 2^24).
        tokens = x.long() if x.is_floating_point() else x
        h = self.tokens(tokens) + self.position[: tokens.shape[1]]
        return self.head(self.norm(self.blocks(h)))


def make(
    *,
    input_shape: Sequence[int],
    outputs: int,
    dim: int = 32,
    heads: int = 4,
    layers: int = 4,
    mlp: int = 4,
    causal: bool = False,
    head_scale: float = 0.0,
) -> nn.Module:
    shape = tuple(int(s) for s in input_shape)
    if len(shape) != 1:
        raise ValueError(f"needs token sequences, examples of shape (length,), not {shape}")
    return Transformer(shape[0], outputs, dim, heads, layers, mlp, causal, head_scale)
