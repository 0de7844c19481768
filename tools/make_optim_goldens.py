#!/usr/bin/env python3
"""Writes the PyTorch golden files that tests/engine/test_optim.cpp compares fovea's
optimisers, gradient clipping and learning-rate schedules against.

  optim_steps.txt      SGD (plain, momentum + dampening + weight decay, Nesterov), Adam
                       (plain, weight decay + amsgrad) and AdamW (plain, amsgrad): the
                       parameter after each of several steps with fixed gradients, in f64.
  optim_clip.txt       clip_grad_norm_ with norm types 2, 1 and inf, clipping and not.
  optim_schedules.txt  the learning rate after construction and after each step of
                       MultiStepLR, CosineAnnealingLR, LinearLR, LinearLR chained with
                       CosineAnnealingLR / MultiStepLR, and ReduceLROnPlateau.

Usage:  python3 tools/make_optim_goldens.py [--out tests/golden]
The file format is that of tools/make_goldens.py (tests/golden.cpp reads it); options are
stored as tensors so each case is self-describing.
"""
import argparse
import math
import pathlib
import sys

import torch

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))
from make_goldens import GoldenWriter  # noqa: E402

STEPS = 5


def run_optimizer(make, p0, grads):
    p = p0.clone().requires_grad_()
    opt = make([p])
    trajectory = []
    for g in grads:
        p.grad = g.clone()
        opt.step()
        trajectory.append(p.detach().clone())
    return torch.stack(trajectory)


def make_steps(out: pathlib.Path):
    w = GoldenWriter(out / "optim_steps.txt", "torch.optim steps with fixed gradients (f64)")
    gen = torch.Generator().manual_seed(7)
    cases = {
        "sgd_plain": ("sgd", dict(lr=0.1)),
        "sgd_momentum": ("sgd", dict(lr=0.05, momentum=0.9, dampening=0.3, weight_decay=0.01)),
        "sgd_nesterov": ("sgd", dict(lr=0.1, momentum=0.8, nesterov=True, weight_decay=1e-3)),
        "adam": ("adam", dict(lr=1e-2, betas=(0.9, 0.999), eps=1e-8)),
        "adam_wd_amsgrad": ("adam", dict(lr=3e-2, betas=(0.8, 0.99), eps=1e-6, weight_decay=0.1, amsgrad=True)),
        "adamw": ("adamw", dict(lr=1e-2, weight_decay=0.05)),
        "adamw_amsgrad": ("adamw", dict(lr=2e-2, betas=(0.7, 0.9), weight_decay=0.2, amsgrad=True)),
    }
    classes = {"sgd": torch.optim.SGD, "adam": torch.optim.Adam, "adamw": torch.optim.AdamW}
    for name, (kind, options) in cases.items():
        p0 = torch.randn(2, 3, dtype=torch.float64, generator=gen)
        grads = torch.randn(STEPS, 2, 3, dtype=torch.float64, generator=gen)
        grads[2, 0, 1] = 0.0  # a zero gradient entry (amsgrad keeps its old maximum there)
        trajectory = run_optimizer(lambda ps: classes[kind](ps, **options), p0, grads)
        full = {"lr": 1e-3, "momentum": 0.0, "dampening": 0.0, "weight_decay": 0.0, "nesterov": False,
                "betas": (0.9, 0.999), "eps": 1e-8, "amsgrad": False}
        if kind == "adamw":
            full["weight_decay"] = 1e-2
        full.update(options)
        w.tensor(f"{name}/p0", p0)
        w.tensor(f"{name}/grads", grads)
        w.tensor(f"{name}/trajectory", trajectory)
        w.tensor(f"{name}/kind", torch.tensor(["sgd", "adam", "adamw"].index(kind)))
        w.tensor(f"{name}/options", torch.tensor([full["lr"], full["momentum"], full["dampening"], full["weight_decay"],
                                                  float(full["nesterov"]), full["betas"][0], full["betas"][1],
                                                  full["eps"], float(full["amsgrad"])], dtype=torch.float64))
    w.save()


def make_clip(out: pathlib.Path):
    w = GoldenWriter(out / "optim_clip.txt", "torch.nn.utils.clip_grad_norm_ (f64)")
    gen = torch.Generator().manual_seed(11)
    for i, (max_norm, norm_type) in enumerate([(1.0, 2.0), (100.0, 2.0), (0.5, 1.0), (0.3, math.inf)]):
        a = torch.zeros(3, 4, dtype=torch.float64, requires_grad=True)
        b = torch.zeros(5, dtype=torch.float64, requires_grad=True)
        a.grad = torch.randn(3, 4, dtype=torch.float64, generator=gen)
        b.grad = torch.randn(5, dtype=torch.float64, generator=gen)
        w.tensor(f"case{i}/grad_a", a.grad)
        w.tensor(f"case{i}/grad_b", b.grad)
        total = torch.nn.utils.clip_grad_norm_([a, b], max_norm, norm_type)
        w.tensor(f"case{i}/max_norm", torch.tensor(max_norm, dtype=torch.float64))
        w.tensor(f"case{i}/norm_type", torch.tensor(-1.0 if math.isinf(norm_type) else norm_type, dtype=torch.float64))
        w.tensor(f"case{i}/total", total)
        w.tensor(f"case{i}/clipped_a", a.grad)
        w.tensor(f"case{i}/clipped_b", b.grad)
    w.save()


def lr_sequence(base_lrs, make_schedulers, epochs, metrics=None):
    params = [torch.zeros(1, requires_grad=True) for _ in base_lrs]
    opt = torch.optim.SGD([{"params": [p], "lr": lr} for p, lr in zip(params, base_lrs)], lr=base_lrs[0])
    schedulers = make_schedulers(opt)
    lrs = [[g["lr"] for g in opt.param_groups]]
    for epoch in range(epochs):
        opt.step()
        for s in schedulers:
            if isinstance(s, torch.optim.lr_scheduler.ReduceLROnPlateau):
                s.step(metrics[epoch])
            else:
                s.step()
        lrs.append([g["lr"] for g in opt.param_groups])
    return torch.tensor(lrs, dtype=torch.float64)


def make_schedules(out: pathlib.Path):
    w = GoldenWriter(out / "optim_schedules.txt", "torch.optim.lr_scheduler learning rates, [epoch, group]")
    S = torch.optim.lr_scheduler
    bases = [0.1, 0.02]
    w.tensor("multistep/lr", lr_sequence(bases, lambda o: [S.MultiStepLR(o, [3, 6, 6, 9], gamma=0.2)], 12))
    w.tensor("cosine/lr", lr_sequence(bases, lambda o: [S.CosineAnnealingLR(o, T_max=5, eta_min=0.001)], 16))
    w.tensor("linear/lr", lr_sequence(bases, lambda o: [S.LinearLR(o, 0.25, 1.0, 4)], 8))
    w.tensor("warmup_cosine/lr",
             lr_sequence(bases, lambda o: [S.LinearLR(o, 0.1, 1.0, 3), S.CosineAnnealingLR(o, T_max=10)], 12))
    w.tensor("warmup_multistep/lr",
             lr_sequence(bases, lambda o: [S.LinearLR(o, 0.5, 1.0, 2), S.MultiStepLR(o, [1, 4], gamma=0.5)], 7))
    metrics_min = [5.0, 4.0, 4.0, 3.99, 3.97, 3.98, 3.99, 4.5, 2.0, 2.0, 2.0, 2.0, 2.0, 2.0, 2.0, 2.0, 2.0, 2.0,
                   1.0, 1.0]
    w.tensor("plateau_min/metrics", torch.tensor(metrics_min, dtype=torch.float64))
    w.tensor("plateau_min/lr", lr_sequence(bases, lambda o: [S.ReduceLROnPlateau(
        o, mode="min", factor=0.5, patience=2, threshold=0.01, cooldown=1, min_lr=0.004)], len(metrics_min),
        metrics_min))
    metrics_max = [0.1, 0.2, 0.25, 0.25, 0.26, 0.3, 0.3, 0.3, 0.3, 0.3, 0.35, 0.35, 0.35, 0.35]
    w.tensor("plateau_max_abs/metrics", torch.tensor(metrics_max, dtype=torch.float64))
    w.tensor("plateau_max_abs/lr", lr_sequence(bases, lambda o: [S.ReduceLROnPlateau(
        o, mode="max", factor=0.1, patience=1, threshold=0.02, threshold_mode="abs", min_lr=[1e-4, 1e-3])],
        len(metrics_max), metrics_max))
    w.save()


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default=str(pathlib.Path(__file__).resolve().parent.parent / "tests" / "golden"))
    out = pathlib.Path(parser.parse_args().out)
    out.mkdir(parents=True, exist_ok=True)
    torch.manual_seed(0)
    make_steps(out)
    make_clip(out)
    make_schedules(out)


if __name__ == "__main__":
    main()
