"""Train FashionLeNet on Fashion-MNIST (deterministic, CPU).

Usage::

    python -m model.train --out model/artifacts/fashion_lenet.pt [--epochs 45] [--lr 0.04] [--seed 0]

Recipe: SGD with Nesterov momentum 0.9, weight decay 5e-4, OneCycleLR
(``torch.optim.lr_scheduler.OneCycleLR``), label smoothing 0.05, batch 128, and
batch-wise augmentation on tensors: random translation by up to 2 pixels (zero
padding) and random horizontal flips. Inputs are pixel / 255 with no other
normalisation, so the quantized input is the pixel byte itself.
"""
from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import torch
import torch.nn.functional as F

from model.data import load_images
from model.net import FashionLeNet
from model.settings import CHECKPOINT


def augment(x: torch.Tensor, gen: torch.Generator, shift: int = 2) -> torch.Tensor:
    """Random translation (up to ``shift`` px, zero fill) and horizontal flip of a batch.

    Args:
        x: float32 ``[B, 1, 28, 28]``.
    """
    b, _, h, w = x.shape
    xp = F.pad(x, (shift, shift, shift, shift))
    dy = torch.randint(0, 2 * shift + 1, (b,), generator=gen)
    dx = torch.randint(0, 2 * shift + 1, (b,), generator=gen)
    rows = (dy[:, None] + torch.arange(h))[:, :, None]
    cols = (dx[:, None] + torch.arange(w))[:, None, :]
    out = xp[torch.arange(b)[:, None, None], 0, rows, cols].unsqueeze(1)
    flip = torch.rand(b, generator=gen) < 0.5
    return torch.where(flip[:, None, None, None], out.flip(-1), out)


@torch.no_grad()
def accuracy(model: torch.nn.Module, images: torch.Tensor, labels: torch.Tensor) -> float:
    """Top-1 accuracy of ``model`` on uint8 ``[N, 28, 28]`` images."""
    model.eval()
    correct = 0
    for i in range(0, len(images), 1000):
        x = images[i:i + 1000].unsqueeze(1).float() / 255.0
        correct += (model(x).argmax(1) == labels[i:i + 1000]).sum().item()
    return correct / len(images)


def train(epochs: int = 45, seed: int = 0, batch: int = 128, lr: float = 0.04, threads: int = 1,
          train_images: int | None = None, log=print) -> tuple[FashionLeNet, dict]:
    """Train from scratch; returns the model and a summary dict (accuracy, seconds).

    ``train_images`` limits training to the first N training images (tests).
    """
    torch.manual_seed(seed)
    torch.use_deterministic_algorithms(True)
    torch.set_num_threads(threads)  # pinned: float results depend on the reduction order
    gen = torch.Generator().manual_seed(seed)

    train_x, train_y = load_images(train=True, count=train_images)
    test_x, test_y = load_images(train=False)
    xs = train_x.unsqueeze(1).float() / 255.0

    model = FashionLeNet()
    opt = torch.optim.SGD(model.parameters(), lr=lr, momentum=0.9, nesterov=True, weight_decay=5e-4)
    steps = (len(xs) + batch - 1) // batch
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=lr, epochs=epochs, steps_per_epoch=steps)
    t0 = time.time()
    for epoch in range(epochs):
        model.train()
        perm = torch.randperm(len(xs), generator=gen)
        total = 0.0
        for i in range(steps):
            idx = perm[i * batch:(i + 1) * batch]
            loss = F.cross_entropy(model(augment(xs[idx], gen)), train_y[idx], label_smoothing=0.05)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            sched.step()
            total += loss.item() * len(idx)
        msg = f"epoch {epoch + 1:2d}/{epochs} loss {total / len(xs):.4f} {time.time() - t0:6.0f}s"
        if (epoch + 1) % 5 == 0 or epoch + 1 == epochs:
            msg += f" test acc {accuracy(model, test_x, test_y) * 100:.2f}%"
        log(msg)
    summary = {
        "seed": seed,
        "epochs": epochs,
        "lr": lr,
        "float_test_accuracy": accuracy(model, test_x, test_y),
        "train_seconds": round(time.time() - t0, 1),
        "torch": torch.__version__,
    }
    return model, summary


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", type=Path, default=CHECKPOINT)
    ap.add_argument("--epochs", type=int, default=45)
    ap.add_argument("--lr", type=float, default=0.04)
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args(argv)
    model, summary = train(epochs=args.epochs, seed=args.seed, lr=args.lr)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    torch.save(model.state_dict(), args.out)
    args.out.with_suffix(".json").write_text(json.dumps(summary, indent=2) + "\n")
    print(f"float test accuracy {summary['float_test_accuracy'] * 100:.2f}% "
          f"in {summary['train_seconds']} s -> {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
