#!/usr/bin/env python3
"""Writes the PyTorch golden files that tests/engine/test_golden.cpp compares fovea against.

Covers ops whose semantics are easy to get subtly wrong: var (dims, correction, keepdim),
cross_entropy with ignore_index ([N, C] and [N, C, d...] layouts, loss and input gradient),
log_softmax (values and gradient) and broadcasting backward.

Usage:  pip install torch numpy && python3 tools/make_goldens.py [--out tests/golden]

File format (parsed by tests/golden.cpp), one file per op, any number of tensors:
    # comment
    tensor <name> <dtype f64|i64> <rank> <size0> ... <size(rank-1)>
    <the values in row-major order, whitespace separated; floats as %.17g>
Names are "<case>/<field>"; scalar parameters (dims, correction, ...) are stored as i64
tensors so each file fully describes its cases.
"""
import argparse
import pathlib

import torch

REDUCTION_CODES = {"none": 0, "mean": 1, "sum": 2}  # must match tests/engine/test_golden.cpp


class GoldenWriter:
    def __init__(self, path: pathlib.Path, description: str):
        self.path = path
        self.lines = [f"# {description}", f"# written by tools/make_goldens.py with torch {torch.__version__}"]

    def tensor(self, name: str, value):
        t = value if isinstance(value, torch.Tensor) else torch.tensor(value)
        t = t.detach().cpu()
        if t.is_floating_point():
            dtype, text = "f64", [f"{v:.17g}" for v in t.double().flatten().tolist()]
        else:
            dtype, text = "i64", [str(v) for v in t.long().flatten().tolist()]
        self.lines.append(" ".join(["tensor", name, dtype, str(t.dim())] + [str(s) for s in t.shape]))
        for start in range(0, len(text), 8):
            self.lines.append(" ".join(text[start:start + 8]))

    def save(self):
        self.path.write_text("\n".join(self.lines) + "\n")
        print(f"wrote {self.path}")


def make_var(out: pathlib.Path):
    w = GoldenWriter(out / "var.txt", "torch.var(x, dim, correction, keepdim)")
    x = torch.randn(3, 4, 5, dtype=torch.float64)
    w.tensor("x", x)
    configs = [([1], 1, False), ([0, 2], 0, True), ([], 1, False), ([], 0, True), ([-1], 0, False), ([0], 1, True),
               ([2, 1], 1, False)]
    for i, (dims, correction, keepdim) in enumerate(configs):
        value = torch.var(x, dim=dims if dims else None, correction=correction, keepdim=keepdim)
        w.tensor(f"case{i}/dims", torch.tensor(dims, dtype=torch.int64))
        w.tensor(f"case{i}/correction", torch.tensor(correction))
        w.tensor(f"case{i}/keepdim", torch.tensor(int(keepdim)))
        w.tensor(f"case{i}/out", value)
    w.save()


def make_cross_entropy(out: pathlib.Path):
    w = GoldenWriter(out / "cross_entropy.txt",
                     "F.cross_entropy(input, target, ignore_index, reduction) and d(loss)/d(input)")
    cases = [
        ((6, 5), -100, "mean"),
        ((3, 4, 5), -100, "mean"),
        ((2, 3, 2, 2), -100, "mean"),
        ((6, 5), 2, "mean"),
        ((3, 4, 5), -100, "sum"),
        ((3, 4, 5), -100, "none"),
    ]
    for i, (shape, ignore_index, reduction) in enumerate(cases):
        logits = (torch.randn(*shape, dtype=torch.float64) * 2).requires_grad_()
        target_shape = (shape[0],) + shape[2:]
        target = torch.randint(0, shape[1], target_shape)
        ignored = torch.rand(target_shape) < 0.3
        target[ignored] = ignore_index
        loss = torch.nn.functional.cross_entropy(logits, target, ignore_index=ignore_index, reduction=reduction)
        grad_output = torch.rand(loss.shape, dtype=torch.float64) + 0.5
        loss.backward(grad_output)
        w.tensor(f"case{i}/input", logits)
        w.tensor(f"case{i}/target", target)
        w.tensor(f"case{i}/ignore_index", torch.tensor(ignore_index))
        w.tensor(f"case{i}/reduction", torch.tensor(REDUCTION_CODES[reduction]))
        w.tensor(f"case{i}/loss", loss)
        w.tensor(f"case{i}/grad_output", grad_output)
        w.tensor(f"case{i}/grad_input", logits.grad)
    w.save()


def make_log_softmax(out: pathlib.Path):
    w = GoldenWriter(out / "log_softmax.txt", "torch.log_softmax(x, dim) and its input gradient for grad_output")
    for i, (shape, dim) in enumerate([((4, 6), 1), ((3, 4, 5), 1), ((3, 4, 5), 0), ((2, 3, 4), -1)]):
        x = (torch.randn(*shape, dtype=torch.float64) * 3).requires_grad_()
        y = torch.log_softmax(x, dim)
        grad_output = torch.randn(*shape, dtype=torch.float64)
        y.backward(grad_output)
        w.tensor(f"case{i}/x", x)
        w.tensor(f"case{i}/dim", torch.tensor(dim))
        w.tensor(f"case{i}/out", y)
        w.tensor(f"case{i}/grad_output", grad_output)
        w.tensor(f"case{i}/grad_x", x.grad)
    w.save()


def make_broadcast_backward(out: pathlib.Path):
    w = GoldenWriter(out / "broadcast_backward.txt",
                     "gradients of broadcasting expressions: mul_add = a*b + c, div_sub = a/b - c")
    expressions = {
        "mul_add": (((3, 1, 5), (4, 1), (5,)), lambda a, b, c: a * b + c),
        "div_sub": (((4, 1, 3), (2, 1), (1,)), lambda a, b, c: a / b - c),
    }
    for name, (shapes, fn) in expressions.items():
        a, b, c = (torch.randn(*s, dtype=torch.float64).requires_grad_() for s in shapes)
        if name == "div_sub":
            with torch.no_grad():
                b.copy_(b.abs() + 0.5)  # keep the divisor away from 0
        result = fn(a, b, c)
        grad_output = torch.randn(result.shape, dtype=torch.float64)
        result.backward(grad_output)
        for field, t in [("a", a), ("b", b), ("c", c), ("out", result), ("grad_output", grad_output),
                         ("grad_a", a.grad), ("grad_b", b.grad), ("grad_c", c.grad)]:
            w.tensor(f"{name}/{field}", t)
    w.save()


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default=str(pathlib.Path(__file__).resolve().parent.parent / "tests" / "golden"))
    out = pathlib.Path(parser.parse_args().out)
    out.mkdir(parents=True, exist_ok=True)
    torch.manual_seed(20240601)
    make_var(out)
    make_cross_entropy(out)
    make_log_softmax(out)
    make_broadcast_backward(out)


if __name__ == "__main__":
    main()
