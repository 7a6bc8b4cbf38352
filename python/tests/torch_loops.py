"""Models and training loops for the gradlab.torch tests, written as PyTorch users write them.

Each loop runs one optimizer step's backward passes on a float32 model and leaves the
gradient in ``.grad`` (and the input's gradient in ``x.grad`` where asked), as the user's loop
would before ``optimizer.step()``. The mistakes are the ones gradlab names:

- ``correct``: the mean over the step's items (micro-batches: each micro-batch's summed loss
  divided by the step's total item count);
- ``sum_instead_of_mean``: the summed loss;
- ``mean_of_microbatch_means``: each micro-batch's mean divided by the number of micro-batches
  (``per_microbatch_token_mean`` for a token loss);
- ``sum_of_microbatch_means``: each micro-batch's mean, not divided;
- ``accumulated_over_steps``: 5 backward passes on the batch without ``zero_grad`` (nor
  ``x.grad`` reset), the gradient read before the 5th optimizer step; ``lr`` is the SGD learning
  rate of the 4 steps between them (0: the parameters did not move, as in a loop that
  accumulates ``x.grad`` for an attribution and never steps).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


class MLP(nn.Module):
    """Two hidden layers, tanh."""

    def __init__(self, d_in=10, hidden=32, classes=4):
        super().__init__()
        self.net = nn.Sequential(
            nn.Linear(d_in, hidden), nn.Tanh(), nn.Linear(hidden, hidden), nn.Tanh(), nn.Linear(hidden, classes)
        )

    def forward(self, x):
        return self.net(x)


class CNN(nn.Module):
    """Two convolutions, a max-pool, a linear head."""

    def __init__(self, channels=2, classes=4):
        super().__init__()
        self.conv1 = nn.Conv2d(channels, 6, 3, padding=1)
        self.conv2 = nn.Conv2d(6, 8, 3, padding=1)
        self.head = nn.Linear(8 * 4 * 4, classes)

    def forward(self, x):
        x = F.relu(self.conv1(x))
        x = F.max_pool2d(F.relu(self.conv2(x)), 2)
        return self.head(x.flatten(1))


class TinyTransformer(nn.Module):
    """Embedding + positions, one self-attention layer (padding masked), a LayerNorm, a head."""

    def __init__(self, vocab=13, d=16, heads=2, length=7, pad=0):
        super().__init__()
        self.pad = pad
        self.embed = nn.Embedding(vocab, d)
        self.pos = nn.Parameter(torch.randn(length, d) * 0.1)
        self.attn = nn.MultiheadAttention(d, heads, dropout=0.0, batch_first=True)
        self.norm = nn.LayerNorm(d)
        self.head = nn.Linear(d, vocab)

    def forward(self, tokens):
        h = self.embed(tokens) + self.pos[: tokens.shape[1]]
        causal = torch.triu(torch.full((tokens.shape[1], tokens.shape[1]), float("-inf")), diagonal=1)
        a, _ = self.attn(h, h, h, attn_mask=causal, need_weights=False)
        return self.head(self.norm(h + a))


def token_loss(output, target, reduction="mean"):
    """The language-model loss: cross-entropy over the tokens, padding (-100) ignored."""
    return F.cross_entropy(output.flatten(0, 1), target.flatten(), ignore_index=-100, reduction=reduction)


def mlp_case(n=16, seed=0):
    """An MLP, its batch (n x 10) and class targets."""
    torch.manual_seed(seed)
    return MLP(), torch.randn(n, 10), torch.randint(0, 4, (n,)), nn.CrossEntropyLoss()


def cnn_case(n=16, seed=0):
    """A CNN, its batch (n x 2 x 8 x 8) and class targets."""
    torch.manual_seed(seed)
    return CNN(), torch.randn(n, 2, 8, 8), torch.randint(0, 4, (n,)), nn.CrossEntropyLoss()


def transformer_case(n=16, length=7, seed=0):
    """A small transformer, n sequences of up to ``length`` tokens, right-padded (pad id 0,
    targets -100 there: lengths vary from 2 to ``length``), next-token targets."""
    torch.manual_seed(seed)
    model = TinyTransformer(length=length)
    tokens = torch.randint(1, 13, (n, length + 1))
    lengths = torch.randint(2, length + 1, (n,))
    inputs = tokens[:, :-1].clone()
    targets = tokens[:, 1:].clone()
    for i, l in enumerate(lengths.tolist()):
        inputs[i, l:] = 0
        targets[i, l:] = -100
    return model, inputs, targets, token_loss


def split(x, y, sizes):
    """The micro-batches of sizes ``sizes``."""
    return list(zip(torch.split(x, sizes), torch.split(y, sizes)))


def items(y):
    """The items a batch's targets count: tokens not equal to -100 (class targets: samples)."""
    return int((y != -100).sum())


def run_loop(model, loss_fn, x, y, loop, sizes=None, input_grad=False, lr=1e-4):
    """Runs ``loop`` (a mistake's name, or ``correct``) on ``model``, leaving its gradients.

    Returns the input tensor (with its ``.grad`` when ``input_grad``).
    """
    if input_grad:
        x = x.clone().requires_grad_(True)
    model.zero_grad()
    if loop == "accumulated_over_steps":
        opt = torch.optim.SGD(model.parameters(), lr=lr)
        for step in range(5):
            loss_fn(model(x), y).backward()  # forgot optimizer.zero_grad() and x.grad = None
            if step < 4:
                opt.step()
        return x
    if sizes is None:
        loss = loss_fn(model(x), y)
        if loop == "sum_instead_of_mean":
            loss = sum_loss(loss_fn, model(x), y)
        loss.backward()
        return x
    micro = split(x, y, sizes)
    total = items(y)
    for xb, yb in micro:
        out = model(xb)
        if loop == "correct":
            loss = sum_loss(loss_fn, out, yb) / total
        elif loop == "sum_instead_of_mean":
            loss = sum_loss(loss_fn, out, yb)
        elif loop in ("mean_of_microbatch_means", "per_microbatch_token_mean"):
            loss = loss_fn(out, yb) / len(micro)
        elif loop == "sum_of_microbatch_means":
            loss = loss_fn(out, yb)
        else:
            raise ValueError(loop)
        loss.backward()
    return x


def sum_loss(loss_fn, out, y):
    """The summed loss, as a user switching the reduction writes it."""
    if isinstance(loss_fn, nn.Module):
        return nn.CrossEntropyLoss(reduction="sum")(out, y)
    return loss_fn(out, y, reduction="sum")
