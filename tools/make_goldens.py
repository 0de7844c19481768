#!/usr/bin/env python3
"""Writes the PyTorch golden files that tests/engine/test_golden.cpp compares fovea against.

Covers ops whose semantics are easy to get subtly wrong: var (dims, correction, keepdim),
cross_entropy with ignore_index ([N, C] and [N, C, d...] layouts, loss and input gradient),
log_softmax (values and gradient) and broadcasting backward; and, for
tests/engine/test_golden_layers.cpp, conv3d with stride, padding, dilation and groups (output
and input, weight and bias gradients), batch_norm in training mode (output, gradients and the
updated running statistics; one evaluation case) and the max, average and adaptive pools with
ceil_mode / count_include_pad (values, indices and input gradient); and, for the fused model
kernels (tests/models/, tests/losses/), the cosine-attention predictor, the memory-bank losses, DPC's
ConvGRU over a sequence (one and two layers, kernels 1, 3 and 5) and conv3d of a per-sample masked
input (masked_conv3d), each with its gradients.

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
POOL_CODES = {"max_pool": 0, "avg_pool": 1, "adaptive_max_pool": 2, "adaptive_avg_pool": 3}  # test_golden_layers.cpp


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


def make_conv3d(out: pathlib.Path):
    w = GoldenWriter(out / "conv3d.txt",
                     "F.conv3d(x, weight, bias, stride, padding, dilation, groups) and its gradients for grad_output")
    cases = [
        ((2, 4, 5, 6, 7), (6, 2, 3, 2, 3), (1, 2, 1), (1, 0, 2), (2, 1, 2), 2, True),
        ((1, 6, 4, 7, 5), (6, 1, 2, 3, 3), (2, 1, 2), (1, 1, 1), (1, 2, 1), 6, False),
        ((3, 3, 3, 5, 6), (4, 3, 3, 3, 3), (1, 1, 1), (1, 1, 1), (1, 1, 1), 1, True),
        ((2, 8, 4, 6, 6), (4, 4, 1, 1, 1), (2, 2, 2), (0, 0, 0), (1, 1, 1), 2, True),
    ]
    for i, (x_shape, w_shape, stride, padding, dilation, groups, has_bias) in enumerate(cases):
        x = torch.randn(*x_shape, dtype=torch.float64).requires_grad_()
        weight = torch.randn(*w_shape, dtype=torch.float64).requires_grad_()
        bias = torch.randn(w_shape[0], dtype=torch.float64).requires_grad_() if has_bias else None
        y = torch.nn.functional.conv3d(x, weight, bias, stride, padding, dilation, groups)
        grad_output = torch.randn(y.shape, dtype=torch.float64)
        y.backward(grad_output)
        w.tensor(f"case{i}/x", x)
        w.tensor(f"case{i}/weight", weight)
        if has_bias:
            w.tensor(f"case{i}/bias", bias)
        w.tensor(f"case{i}/stride", torch.tensor(stride))
        w.tensor(f"case{i}/padding", torch.tensor(padding))
        w.tensor(f"case{i}/dilation", torch.tensor(dilation))
        w.tensor(f"case{i}/groups", torch.tensor(groups))
        w.tensor(f"case{i}/out", y)
        w.tensor(f"case{i}/grad_output", grad_output)
        w.tensor(f"case{i}/grad_x", x.grad)
        w.tensor(f"case{i}/grad_weight", weight.grad)
        if has_bias:
            w.tensor(f"case{i}/grad_bias", bias.grad)
    w.save()


def make_batch_norm(out: pathlib.Path):
    w = GoldenWriter(out / "batch_norm.txt",
                     "F.batch_norm(x, running_mean, running_var, weight, bias, training, momentum, eps): output, "
                     "gradients for grad_output, running statistics after the call")
    cases = [((6, 3), True, 0.1), ((4, 3, 5), True, 0.1), ((2, 4, 3, 5), True, 0.25), ((2, 3, 2, 3, 4), True, 0.1),
             ((3, 2, 2, 3, 2), False, 0.1)]
    for i, (shape, training, momentum) in enumerate(cases):
        channels = shape[1]
        x = (torch.randn(*shape, dtype=torch.float64) * 2 + 0.5).requires_grad_()
        weight = (torch.rand(channels, dtype=torch.float64) + 0.5).requires_grad_()
        bias = torch.randn(channels, dtype=torch.float64).requires_grad_()
        running_mean = torch.randn(channels, dtype=torch.float64)
        running_var = torch.rand(channels, dtype=torch.float64) + 0.5
        w.tensor(f"case{i}/x", x)
        w.tensor(f"case{i}/weight", weight)
        w.tensor(f"case{i}/bias", bias)
        w.tensor(f"case{i}/running_mean", running_mean)
        w.tensor(f"case{i}/running_var", running_var)
        w.tensor(f"case{i}/training", torch.tensor(int(training)))
        w.tensor(f"case{i}/momentum", torch.tensor(momentum, dtype=torch.float64))
        y = torch.nn.functional.batch_norm(x, running_mean, running_var, weight, bias, training, momentum, 1e-5)
        grad_output = torch.randn(y.shape, dtype=torch.float64)
        y.backward(grad_output)
        w.tensor(f"case{i}/out", y)
        w.tensor(f"case{i}/running_mean_after", running_mean)
        w.tensor(f"case{i}/running_var_after", running_var)
        w.tensor(f"case{i}/grad_output", grad_output)
        w.tensor(f"case{i}/grad_x", x.grad)
        w.tensor(f"case{i}/grad_weight", weight.grad)
        w.tensor(f"case{i}/grad_bias", bias.grad)
    w.save()


def make_pools(out: pathlib.Path):
    w = GoldenWriter(out / "pool.txt",
                     "max/avg/adaptive pools 2d and 3d (kind codes in POOL_CODES): values, max indices, input gradient")
    F = torch.nn.functional
    # (kind, x shape, kernel, stride, padding, dilation, ceil_mode, count_include_pad, output_size)
    cases = [
        ("max_pool", (2, 3, 5, 7), (2, 3), (2, 2), (1, 1), (1, 1), True, True, ()),
        ("max_pool", (1, 2, 5, 6, 7), (3, 2, 3), (2, 2, 2), (1, 1, 0), (1, 2, 2), True, True, ()),
        ("max_pool", (2, 2, 4, 9, 8), (2, 3, 3), (1, 2, 2), (0, 1, 1), (1, 1, 1), False, True, ()),
        ("avg_pool", (2, 3, 5, 7), (3, 2), (2, 2), (1, 1), (1, 1), True, True, ()),
        ("avg_pool", (2, 3, 5, 7), (3, 2), (2, 2), (1, 1), (1, 1), True, False, ()),
        ("avg_pool", (1, 2, 5, 6, 7), (2, 3, 3), (2, 2, 3), (1, 1, 1), (1, 1, 1), True, False, ()),
        ("avg_pool", (1, 2, 5, 6, 7), (3, 3, 2), (2, 2, 2), (1, 0, 1), (1, 1, 1), False, True, ()),
        ("adaptive_max_pool", (2, 2, 7, 5), (), (), (), (), False, True, (3, 4)),
        ("adaptive_max_pool", (1, 2, 5, 7, 6), (), (), (), (), False, True, (2, 3, 4)),
        ("adaptive_avg_pool", (2, 2, 7, 5), (), (), (), (), False, True, (3, 2)),
        ("adaptive_avg_pool", (1, 2, 5, 7, 6), (), (), (), (), False, True, (3, 4, 5)),
    ]
    for i, (kind, shape, kernel, stride, padding, dilation, ceil_mode, include_pad, output_size) in enumerate(cases):
        x = torch.randn(*shape, dtype=torch.float64).requires_grad_()
        spatial = len(shape) - 2
        indices = None
        if kind == "max_pool":
            fn = F.max_pool2d if spatial == 2 else F.max_pool3d
            y, indices = fn(x, kernel, stride, padding, dilation, ceil_mode=ceil_mode, return_indices=True)
        elif kind == "avg_pool":
            fn = F.avg_pool2d if spatial == 2 else F.avg_pool3d
            y = fn(x, kernel, stride, padding, ceil_mode=ceil_mode, count_include_pad=include_pad)
        elif kind == "adaptive_max_pool":
            fn = F.adaptive_max_pool2d if spatial == 2 else F.adaptive_max_pool3d
            y, indices = fn(x, output_size, return_indices=True)
        else:
            fn = F.adaptive_avg_pool2d if spatial == 2 else F.adaptive_avg_pool3d
            y = fn(x, output_size)
        grad_output = torch.randn(y.shape, dtype=torch.float64)
        y.backward(grad_output)
        w.tensor(f"case{i}/kind", torch.tensor(POOL_CODES[kind]))
        w.tensor(f"case{i}/x", x)
        for field, value in [("kernel", kernel), ("stride", stride), ("padding", padding), ("dilation", dilation),
                             ("output_size", output_size)]:
            w.tensor(f"case{i}/{field}", torch.tensor(value, dtype=torch.int64))
        w.tensor(f"case{i}/ceil_mode", torch.tensor(int(ceil_mode)))
        w.tensor(f"case{i}/count_include_pad", torch.tensor(int(include_pad)))
        w.tensor(f"case{i}/out", y)
        if indices is not None:
            w.tensor(f"case{i}/indices", indices)
        w.tensor(f"case{i}/grad_output", grad_output)
        w.tensor(f"case{i}/grad_x", x.grad)
    w.save()


def make_cosine_attention(out: pathlib.Path):
    """The saccade predictor pred_u = sum_v relu(cos(c_u, c_v)) * g(c_v) over the T*H*W positions,
    as the unfused composition (F.normalize -> bmm -> relu -> linear -> bmm), with its gradients;
    and the two-clip L1 prediction error with detached targets (models/prediction_error.h)."""
    w = GoldenWriter(out / "cosine_attention.txt",
                     "cosine-attention predictor pred = relu(cos(c, c)) @ g(c) per sample, its gradients, "
                     "and the fixation prediction error (tests/models/test_cosine_attention.cpp)")
    functional = torch.nn.functional

    def predict(c, weight, bias):
        x = c.flatten(2)
        normalized = functional.normalize(x, dim=1, eps=1e-12)
        attention = torch.relu(torch.bmm(normalized.transpose(1, 2), normalized))
        transformed = functional.linear(x.transpose(1, 2), weight, bias)
        return torch.bmm(attention, transformed).transpose(1, 2).reshape(c.shape)

    cases = [((2, 5, 7), True, False), ((2, 6, 2, 3, 3), True, False), ((3, 4, 11), False, True)]
    for i, (shape, has_bias, zero_column) in enumerate(cases):
        c = torch.randn(*shape, dtype=torch.float64)
        if zero_column:
            c[:, :, 3] = 0  # F.normalize's eps: a zero feature vector has cosine 0 with every position
        c.requires_grad_()
        channels = shape[1]
        bound = channels ** -0.5
        weight = ((torch.rand(channels, channels, dtype=torch.float64) * 2 - 1) * bound).requires_grad_()
        bias = ((torch.rand(channels, dtype=torch.float64) * 2 - 1) * bound).requires_grad_() if has_bias else None
        pred = predict(c, weight, bias)
        grad_pred = torch.randn(pred.shape, dtype=torch.float64)
        pred.backward(grad_pred)
        fields = [("c", c), ("g_weight", weight)] + ([("g_bias", bias)] if has_bias else [])
        fields += [("pred", pred), ("grad_pred", grad_pred), ("grad_c", c.grad), ("grad_weight", weight.grad)]
        fields += [("grad_bias", bias.grad)] if has_bias else []
        for field, t in fields:
            w.tensor(f"case{i}/{field}", t)

    first, second = (torch.randn(2, 6, 1, 3, 3, dtype=torch.float64).requires_grad_() for _ in range(2))
    weight = ((torch.rand(6, 6, dtype=torch.float64) * 2 - 1) * 6 ** -0.5).requires_grad_()
    bias = ((torch.rand(6, dtype=torch.float64) * 2 - 1) * 6 ** -0.5).requires_grad_()
    loss = 0.5 * (functional.l1_loss(predict(first, weight, bias), second.detach()) +
                  functional.l1_loss(predict(second, weight, bias), first.detach()))
    loss.backward()
    for field, t in [("c_first", first), ("c_second", second), ("g_weight", weight), ("g_bias", bias), ("loss", loss),
                     ("grad_c_first", first.grad), ("grad_c_second", second.grad), ("grad_weight", weight.grad),
                     ("grad_bias", bias.grad)]:
        w.tensor(f"fixation/{field}", t)
    w.save()


def make_memory_bank_losses(out: pathlib.Path):
    """InfoNCE against gathered bank rows, the momentum bank update and CMC's NCE (tests/losses/test_infonce*.cpp)."""
    F = torch.nn.functional
    w = GoldenWriter(out / "infonce.txt",
                     "InfoNCE: cross_entropy(cat(q·pos, bmm(bank[idx], q)) / tau, 0, reduction), gradients of q and pos")
    for i, (batch, dim, negatives, rows, tau, reduction) in enumerate(
            [(4, 8, 6, 10, 0.07, "mean"), (3, 5, 9, 7, 0.5, "none"), (5, 13, 20, 30, 0.2, "sum")]):
        q = F.normalize(torch.randn(batch, dim, dtype=torch.float64), dim=1).requires_grad_()
        pos = F.normalize(torch.randn(batch, dim, dtype=torch.float64), dim=1).requires_grad_()
        bank = F.normalize(torch.randn(rows, dim, dtype=torch.float64), dim=1)
        idx = torch.randint(0, rows, (batch, negatives))
        logits = torch.cat([(q * pos).sum(1, keepdim=True), torch.bmm(bank[idx], q.unsqueeze(2)).squeeze(2)], 1) / tau
        loss = F.cross_entropy(logits, torch.zeros(batch, dtype=torch.long), reduction=reduction)
        grad_output = torch.rand(loss.shape, dtype=torch.float64) + 0.5
        loss.backward(grad_output)
        for field, t in [("queries", q), ("positives", pos), ("bank", bank), ("indices", idx),
                         ("temperature", torch.tensor(tau, dtype=torch.float64)),
                         ("reduction", torch.tensor(REDUCTION_CODES[reduction])), ("loss", loss),
                         ("grad_output", grad_output), ("grad_queries", q.grad), ("grad_positives", pos.grad)]:
            w.tensor(f"case{i}/{field}", t)
    w.save()

    w = GoldenWriter(out / "memory_bank.txt",
                     "NPID/CMC memory update: w = mem[y]·m + x·(1 - m), optionally w / ||w||, mem.index_copy_(0, y, w)")
    for i, (rows, dim, count, momentum, renormalize) in enumerate([(9, 6, 4, 0.5, True), (7, 5, 3, 0.8, False)]):
        bank = F.normalize(torch.randn(rows, dim, dtype=torch.float64), dim=1)
        y = torch.randperm(rows)[:count]
        x = torch.randn(count, dim, dtype=torch.float64)
        updated = bank.index_select(0, y) * momentum + x * (1 - momentum)
        if renormalize:
            updated = updated / updated.pow(2).sum(1, keepdim=True).pow(0.5)
        after = bank.clone().index_copy_(0, y, updated)
        for field, t in [("bank", bank), ("indices", y), ("values", x),
                         ("momentum", torch.tensor(momentum, dtype=torch.float64)),
                         ("renormalize", torch.tensor(int(renormalize))), ("bank_after", after)]:
            w.tensor(f"case{i}/{field}", t)
    w.save()

    w = GoldenWriter(out / "nce.txt",
                     "CMC NCE: P = exp(bmm(mem[idx], x) / T) / Z, Z = mean(exp(.)) * n_data on the first batch; "
                     "NCECriterion(P) with Pn = 1 / n_data, eps = 1e-7; gradient of x")
    for i, (batch, dim, noise, n_data, tau) in enumerate([(4, 8, 6, 40, 0.07), (3, 5, 10, 25, 0.5)]):
        x = F.normalize(torch.randn(batch, dim, dtype=torch.float64), dim=1).requires_grad_()
        memory = F.normalize(torch.randn(n_data, dim, dtype=torch.float64), dim=1)
        idx = torch.randint(0, n_data, (batch, noise + 1))
        scores = torch.exp(torch.bmm(memory[idx], x.unsqueeze(2)).squeeze(2) / tau)
        z = (scores.mean() * n_data).item()
        probs = scores / z
        noise_mass = noise / n_data
        positive = probs.select(1, 0)
        loss = -(torch.log(positive / (positive + noise_mass + 1e-7)).sum()
                 + torch.log(noise_mass / (probs.narrow(1, 1, noise) + noise_mass + 1e-7)).sum()) / batch
        loss.backward()
        for field, t in [("queries", x), ("bank", memory), ("indices", idx),
                         ("temperature", torch.tensor(tau, dtype=torch.float64)), ("n_data", torch.tensor(n_data)),
                         ("z", torch.tensor(z, dtype=torch.float64)), ("probs", probs), ("loss", loss),
                         ("grad_queries", x.grad)]:
            w.tensor(f"case{i}/{field}", t)
    w.save()


def make_convgru(out: pathlib.Path):
    """DPC's ConvGRU (backbone/convrnn.py) written out with F.conv2d: per layer and step
    z = σ(conv(cat(x, h), W_z)), r = σ(conv(cat(x, h), W_r)), o = tanh(conv(cat(x, h·r), W_o)),
    h = h·(1 − z) + o·z, then dropout (evaluation mode: identity); the states of a layer are the
    next layer's input. Weights orthogonal per gate as DPC, biases random so their gradients
    matter. gate_weight stacks W_z over W_r as models/convgru.h does."""
    F = torch.nn.functional
    w = GoldenWriter(out / "convgru.txt",
                     "DPC ConvGRU in evaluation mode: top-layer states, per-layer last states, and the gradients "
                     "of sum(states·grad_states) + sum(last·grad_last) (tests/models/test_convgru.cpp)")
    # (N, T, in, hid, k, H, W, layers, with h0, with biases)
    cases = [(2, 3, 3, 4, 1, 3, 5, 1, True, True), (1, 4, 2, 3, 3, 4, 3, 1, False, True),
             (2, 2, 3, 3, 3, 5, 4, 2, True, True), (1, 2, 2, 2, 5, 2, 3, 1, True, False)]
    for i, (n, steps, in_channels, hidden, k, height, width, layers, with_h0, with_bias) in enumerate(cases):
        x = torch.randn(n, steps, in_channels, height, width, dtype=torch.float64).requires_grad_()
        params, h0s = [], []
        for layer in range(layers):
            channels = (in_channels if layer == 0 else hidden) + hidden
            gates = []
            for _ in range(3):  # update (z), reset (r), out (o)
                weight = torch.empty(hidden, channels, k, k, dtype=torch.float64)
                torch.nn.init.orthogonal_(weight)
                gates.append(weight.requires_grad_())
            biases = [(torch.rand(hidden, dtype=torch.float64) - 0.5).requires_grad_() if with_bias else None
                      for _ in range(3)]
            params.append((gates, biases))
            h0s.append(torch.randn(n, hidden, height, width, dtype=torch.float64).requires_grad_() if with_h0
                       else torch.zeros(n, hidden, height, width, dtype=torch.float64))
        dropout = torch.nn.Dropout(0.1).eval()
        layer_input, lasts = x, []
        for layer, ((w_z, w_r, w_o), (b_z, b_r, b_o)) in enumerate(params):
            h, states = h0s[layer], []
            for t in range(steps):
                xt = layer_input[:, t]
                combined = torch.cat([xt, h], 1)
                z = torch.sigmoid(F.conv2d(combined, w_z, b_z, padding=k // 2))
                r = torch.sigmoid(F.conv2d(combined, w_r, b_r, padding=k // 2))
                o = torch.tanh(F.conv2d(torch.cat([xt, h * r], 1), w_o, b_o, padding=k // 2))
                h = dropout(h * (1 - z) + o * z)
                states.append(h)
            layer_input = torch.stack(states, 1)
            lasts.append(h)
        states, last = layer_input, torch.stack(lasts, 1)
        grad_states, grad_last = torch.randn_like(states), torch.randn_like(last)
        ((states * grad_states).sum() + (last * grad_last).sum()).backward()
        fields = [("layers", torch.tensor(layers)), ("kernel_size", torch.tensor(k)),
                  ("dropout_p", torch.tensor(0.1, dtype=torch.float64)), ("x", x)]
        grads = [("grad_x", x.grad)]
        for layer, ((w_z, w_r, w_o), (b_z, b_r, b_o)) in enumerate(params):
            fields += [(f"gate_weight_l{layer}", torch.cat([w_z, w_r])), (f"out_weight_l{layer}", w_o)]
            grads += [(f"grad_gate_weight_l{layer}", torch.cat([w_z.grad, w_r.grad])),
                      (f"grad_out_weight_l{layer}", w_o.grad)]
            if with_bias:
                fields += [(f"gate_bias_l{layer}", torch.cat([b_z, b_r])), (f"out_bias_l{layer}", b_o)]
                grads += [(f"grad_gate_bias_l{layer}", torch.cat([b_z.grad, b_r.grad])),
                          (f"grad_out_bias_l{layer}", b_o.grad)]
            if with_h0:
                fields.append((f"h0_l{layer}", h0s[layer]))
                grads.append((f"grad_h0_l{layer}", h0s[layer].grad))
        fields += [("states", states), ("last", last), ("grad_states", grad_states), ("grad_last", grad_last)]
        for field, t in fields + grads:
            w.tensor(f"case{i}/{field}", t)
    w.save()


def make_masked_conv3d(out: pathlib.Path):
    """F.conv3d(x · masks[mask_index] broadcast over channels and frames): a set of rectangular
    fixation masks picked per sample, and an arbitrary per-sample mask tensor (masks [N, H, W],
    mask_index = arange(N)); strides, padding and dilation, and an R3D-18-like stem (kernel 3×7×7,
    stride 1×2×2, padding 1×3×3, no bias) at a small size. Output and gradients of x, weight, bias."""
    F = torch.nn.functional
    w = GoldenWriter(out / "masked_conv3d.txt",
                     "F.conv3d(x * masks[mask_index][:, None, None], weight, bias, stride, padding, dilation) "
                     "and its gradients for grad_output (tests/models/test_masked_conv3d.cpp)")

    def rectangles(count, height, width):
        masks = torch.zeros(count, height, width, dtype=torch.int64)
        for m in masks:
            top, left = torch.randint(0, height // 2, ()).item(), torch.randint(0, width // 2, ()).item()
            m[top:top + height // 2 + 1, left:left + width // 2] = 1
        return masks

    # (x shape, Cout, kernel, stride, padding, dilation, masks kind, bias)
    cases = [((3, 2, 3, 7, 6), 3, (3, 3, 3), (1, 2, 1), (1, 1, 1), (1, 1, 1), "fixation", True),
             ((3, 2, 2, 6, 7), 2, (2, 3, 3), (1, 1, 1), (0, 2, 1), (1, 2, 1), "per_sample", True),
             ((2, 3, 3, 10, 10), 2, (3, 7, 7), (1, 2, 2), (1, 3, 3), (1, 1, 1), "fixation", False),
             ((4, 1, 2, 5, 9), 2, (1, 3, 3), (2, 1, 2), (0, 1, 1), (1, 1, 1), "per_sample", True)]
    for i, (x_shape, cout, kernel, stride, padding, dilation, kind, has_bias) in enumerate(cases):
        n, channels, _, height, width = x_shape
        if kind == "fixation":
            masks = rectangles(5, height, width)
            mask_index = torch.randint(0, 5, (n,))
        else:
            masks = (torch.rand(n, height, width) < 0.5).long()
            mask_index = torch.arange(n)
        x = torch.randn(*x_shape, dtype=torch.float64).requires_grad_()
        weight = (torch.randn(cout, channels, *kernel, dtype=torch.float64) * 0.3).requires_grad_()
        bias = torch.randn(cout, dtype=torch.float64).requires_grad_() if has_bias else None
        masked = x * masks[mask_index][:, None, None].double()
        y = F.conv3d(masked, weight, bias, stride, padding, dilation)
        grad_output = torch.randn(y.shape, dtype=torch.float64)
        y.backward(grad_output)
        fields = [("x", x), ("masks", masks), ("mask_index", mask_index), ("weight", weight)]
        fields += [("bias", bias)] if has_bias else []
        fields += [("stride", torch.tensor(stride)), ("padding", torch.tensor(padding)),
                   ("dilation", torch.tensor(dilation)), ("out", y), ("grad_output", grad_output),
                   ("grad_x", x.grad), ("grad_weight", weight.grad)]
        fields += [("grad_bias", bias.grad)] if has_bias else []
        for field, t in fields:
            w.tensor(f"case{i}/{field}", t)
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
    torch.manual_seed(20240602)
    make_conv3d(out)
    make_batch_norm(out)
    make_pools(out)
    torch.manual_seed(20240606)
    make_cosine_attention(out)
    torch.manual_seed(20240610)
    make_memory_bank_losses(out)
    torch.manual_seed(20240612)
    make_convgru(out)
    make_masked_conv3d(out)


if __name__ == "__main__":
    main()
