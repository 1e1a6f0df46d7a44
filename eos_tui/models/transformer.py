"""A small transformer for a sequence task (the central-flows code's, on `sort`).

Shapes, the convention every sequence model here follows:
- input: a batch of token sequences, (n, length) integers in [0, vocab); `input_shape` = (length,);
- output: (n, length, vocab) logits, one distribution over the vocabulary at every position;
- targets: (n, length) class indices (data.kind = "sort", data/sort.py);
- the loss is over every position: the mean over the n·length positions of the per-position loss,
  which is the loss of the outputs flattened to (n·length, vocab) against the targets flattened to
  (n·length,) (cross-entropy; "mse": ½‖f − onehot(y)‖² per position), as the central-flows code
  flattens them. A chunk of examples is a chunk of rows of both.

The network: token embedding plus a learned position embedding, `layers` pre-LN blocks (layers.Block:
`heads`-head self-attention, an MLP of `mlp`·dim, GELU), a final LayerNorm and a linear head to the
vocabulary. No dropout. `causal`: position t attends to positions ≤ t only, as next-token prediction
needs (the central-flows sort task predicts each token of the sorted half from what precedes it);
false lets every position see the whole sequence. Weights initialized as the central-flows code
does (Xavier uniform on every matrix); `head_scale` multiplies the head's initial weights and bias,
their 0 (the default) starting the network at uniform predictions.
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
    causal: bool = True,
    head_scale: float = 0.0,
) -> nn.Module:
    shape = tuple(int(s) for s in input_shape)
    if len(shape) != 1:
        raise ValueError(f"needs token sequences, examples of shape (length,), not {shape}")
    return Transformer(shape[0], outputs, dim, heads, layers, mlp, causal, head_scale)
