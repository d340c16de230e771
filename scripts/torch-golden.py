#!/usr/bin/python3
"""Writes train/testdata/torch-golden.json: what PyTorch computes for the
tutorial's ResNet over two training steps, for TestResNetMatchesPyTorch.

PyTorch is a yardstick here, never a dependency: the JSON is committed and the
Go test reads only it. Regenerate it (after changing the model or this
script) from the repository's root with

    /usr/bin/python3 scripts/torch-golden.py

which needs `apt-get install -y python3-torch`.

The computation follows Keras, not PyTorch's own defaults, wherever the two
differ:
  - parameters live in Keras's layouts (HWIO kernels, [in, out] dense
    kernels) and activations are flattened in NHWC order;
  - BatchNorm moves its statistics with momentum 0.99 towards the batch's
    biased variance, epsilon 1e-3;
  - Adam is Keras's: alpha = lr*sqrt(1-b2^t)/(1-b1^t),
    theta -= alpha*m/(sqrt(v)+eps), eps 1e-7.

The first training batch is chosen to have no ReLU ties: every input of
every ReLU in the first step stays at least MARGIN times its layer's
root-mean-square value away from zero, so that float32 rounding cannot
switch a ReLU on in one engine and off in the other. Such a switch changes
every gradient upstream of it by up to a few per cent, and would hide real
errors behind a loose tolerance. (Ties elsewhere do not matter: a forward
value moves continuously through a tie, and only the first step's gradients
are compared.) The script tries successive groups of images and keeps the
first without ties.

The starting weights are not random: every value is a function of the
parameter's index and the element's index (splitmix64, see init_value), so
the Go test builds the same ones without any file. Kernels take Glorot's
range; biases, gamma and beta are made non-trivial so that their gradients
are exercised.
"""

import gzip
import json
import math
import os
import struct

import numpy as np
import torch
import torch.nn.functional as F

torch.set_default_dtype(torch.float64)  # the reference in double precision

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BATCH, STEPS, SAMPLES = 8, 2, 16
MARGIN = 1e-5
LR, B1, B2, EPS = 1e-3, 0.9, 0.999, 1e-7
MOMENTUM, BN_EPS = 0.99, 1e-3

M64 = (1 << 64) - 1


def splitmix64(z):
    z = (z + 0x9E3779B97F4A7C15) & M64
    z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & M64
    z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & M64
    return z ^ (z >> 31)


def init_value(name, shape, j):
    """The starting values of parameter j (Keras layout), as float32."""
    n = int(np.prod(shape))
    u = np.array([(splitmix64((j << 32) | i) >> 40) for i in range(n)], dtype=np.float64) * 2.0**-24
    s = 2 * u - 1
    if name.endswith(".kernel"):
        fan_in, fan_out = int(np.prod(shape[:-1])), int(np.prod(shape[:-2])) * shape[-1]
        v = math.sqrt(6.0 / (fan_in + fan_out)) * s
    elif name.endswith(".gamma"):
        v = 1 + 0.1 * s
    elif name.endswith((".bias", ".beta")):
        v = 0.1 * s
    elif name.endswith(".moving_mean"):
        v = np.zeros(n)
    elif name.endswith(".moving_variance"):
        v = np.ones(n)
    else:
        raise ValueError(name)
    return v.astype(np.float32).reshape(shape)


def param_list():
    """Names and shapes in the Go model's Params() order."""
    out = [("conv1.kernel", [3, 3, 1, 8]), ("conv1.bias", [8])]

    def bn(p, c):
        return [(f"{p}.{s}", [c]) for s in ("gamma", "beta", "moving_mean", "moving_variance")]

    def conv(p, k, cin, cout):
        return [(f"{p}.kernel", [k, k, cin, cout]), (f"{p}.bias", [cout])]

    for li, (cin, filters) in enumerate([(8, [16, 16]), (16, [32, 32]), (32, [64, 64])], 1):
        for ui, (fi, fo) in enumerate(zip([cin] + filters, filters)):
            p = f"res{li}.{ui}"
            out += bn(p + ".bn1", fi) + conv(p + ".conv1", 3, fi, fo)
            out += bn(p + ".bn2", fo) + conv(p + ".conv2", 3, fo, fo)
            if fi != fo:
                out += conv(p + ".identity", 1, fi, fo)
    out += [("dense1.kernel", [3136, 128]), ("dense1.bias", [128]),
            ("dense2.kernel", [128, 10]), ("dense2.bias", [10])]
    return out


def read_idx(path):
    with gzip.open(path) as f:
        b = f.read()
    magic, = struct.unpack(">I", b[:4])
    dims = struct.unpack(">" + "I" * (magic & 0xFF), b[4:4 + 4 * (magic & 0xFF)])
    return np.frombuffer(b, dtype=np.uint8, offset=4 + 4 * len(dims)).reshape(dims)


def conv2d(p, name, x):
    w = p[name + ".kernel"]  # [k, k, in, out]
    return F.conv2d(x, w.permute(3, 2, 0, 1), p[name + ".bias"], padding=w.shape[0] // 2)


def batchnorm_relu(p, name, x, training):
    g, b = p[name + ".gamma"], p[name + ".beta"]
    mm, mv = p[name + ".moving_mean"], p[name + ".moving_variance"]
    if training:
        mean = x.mean(dim=(0, 2, 3))
        var = x.var(dim=(0, 2, 3), unbiased=False)
        with torch.no_grad():
            mm.mul_(MOMENTUM).add_((1 - MOMENTUM) * mean)
            mv.mul_(MOMENTUM).add_((1 - MOMENTUM) * var)
    else:
        mean, var = mm, mv
    y = (x - mean[None, :, None, None]) / torch.sqrt(var[None, :, None, None] + BN_EPS)
    return relu(y * g[None, :, None, None] + b[None, :, None, None])


margins = None  # when a list: min |z| / rms(z) of every ReLU input z


def relu(z):
    if margins is not None:
        with torch.no_grad():
            margins.append((z.abs().min() / z.pow(2).mean().sqrt()).item())
    return F.relu(z)


def forward(p, x, training):
    """The tutorial's ResNet; x is NCHW (PyTorch's convolutions want it)."""
    x = relu(conv2d(p, "conv1", x))
    for li, (cin, filters) in enumerate([(8, [16, 16]), (16, [32, 32]), (32, [64, 64])], 1):
        for ui, (fi, fo) in enumerate(zip([cin] + filters, filters)):
            u = f"res{li}.{ui}"
            h = conv2d(p, u + ".conv1", batchnorm_relu(p, u + ".bn1", x, training))
            h = conv2d(p, u + ".conv2", batchnorm_relu(p, u + ".bn2", h, training))
            x = (conv2d(p, u + ".identity", x) if fi != fo else x) + h
        if li < 3:
            x = F.max_pool2d(x, 2)
    x = x.permute(0, 2, 3, 1).reshape(x.shape[0], -1)  # NHWC order, as Keras
    x = relu(x @ p["dense1.kernel"] + p["dense1.bias"])
    return x @ p["dense2.kernel"] + p["dense2.bias"]


def sample(t):
    """The tensor's L2 norm and SAMPLES values spread over it."""
    flat = t.detach().reshape(-1)
    n = flat.numel()
    idx = sorted({k * n // SAMPLES for k in range(SAMPLES)})
    return {"norm": flat.norm().item(), "index": idx, "value": [flat[i].item() for i in idx]}


def golden(names, images, labels, first):
    """Evaluates, then trains STEPS steps, on the images from first on, and
    returns what the Go test compares and the first step's ReLU margins."""
    global margins
    p = {}
    for j, (name, shape) in enumerate(names):
        t = torch.from_numpy(init_value(name, shape, j).astype(np.float64))
        p[name] = t.requires_grad_(not name.endswith(("moving_mean", "moving_variance")))
    # x/255 in float32 first, as resgo and Keras compute it.
    n = BATCH * (STEPS + 1)
    x_all = torch.from_numpy((images[first:first + n].astype(np.float32) / np.float32(255)).astype(np.float64)).unsqueeze(1)
    y_all = torch.from_numpy(labels[first:first + n].astype(np.int64))
    batch = lambda k: (x_all[k * BATCH:(k + 1) * BATCH], y_all[k * BATCH:(k + 1) * BATCH])
    trainable = [n for n, _ in names if p[n].requires_grad]
    slots = {n: (torch.zeros_like(p[n]), torch.zeros_like(p[n])) for n in trainable}
    out = {"batch": BATCH, "first": first, "params": [{"name": n, "shape": s} for n, s in names], "steps": []}
    # Inference before training (the last batch): moving mean 0, variance 1.
    with torch.no_grad():
        x, y = batch(STEPS)
        logits = forward(p, x, False)
        out["eval"] = {"logits": logits.reshape(-1).tolist(), "loss": F.cross_entropy(logits, y).item()}
    step_margins = []
    for step in range(1, STEPS + 1):
        x, y = batch(step - 1)
        margins = step_margins if step == 1 else None
        loss = F.cross_entropy(forward(p, x, True), y)
        margins = None
        loss.backward()
        rec = {"loss": loss.item()}
        if step == 1:
            rec["grads"] = {n: sample(p[n].grad) for n in trainable}
            rec["moving"] = {n: p[n].tolist() for n, _ in names if n.endswith(("moving_mean", "moving_variance"))}
            before = {n: p[n].detach().clone() for n in trainable}
        out["steps"].append(rec)
        alpha = LR * math.sqrt(1 - B2**step) / (1 - B1**step)
        with torch.no_grad():
            for n in trainable:
                m, v = slots[n]
                g = p[n].grad
                m.mul_(B1).add_((1 - B1) * g)
                v.mul_(B2).add_((1 - B2) * g * g)
                p[n].sub_(alpha * m / (v.sqrt() + EPS))
                p[n].grad = None
        if step == 1:
            rec["updates"] = {n: sample(p[n] - before[n]) for n in trainable}
    return out, min(step_margins)


def main():
    names = param_list()
    images = read_idx(os.path.join(ROOT, "data/mnist/train-images-idx3-ubyte.gz"))
    labels = read_idx(os.path.join(ROOT, "data/mnist/train-labels-idx1-ubyte.gz"))
    group = BATCH * (STEPS + 1)
    for first in range(0, 100 * group, group):
        out, margin = golden(names, images, labels, first)
        if margin >= MARGIN:
            break
        print(f"images {first}-{first + group - 1}: a ReLU input {margin:.2g} of its rms from zero; next")
    else:
        raise SystemExit("no group of images without ReLU ties")
    out["margin"] = margin
    path = os.path.join(ROOT, "train/testdata/torch-golden.json")
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "w") as f:
        json.dump(out, f, indent=1)
        f.write("\n")
    print(f"wrote {path}: images {first}-{first + group - 1}, smallest ReLU margin {out['margin']:.2g}, "
          f"losses {[round(s['loss'], 6) for s in out['steps']]}, inference loss {out['eval']['loss']:.6f}")


if __name__ == "__main__":
    main()
