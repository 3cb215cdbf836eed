"""
Exports a torchvision ResNet to ONNX the way a user would (torch.onnx.export, opset 13, input
`input` (batch, 3, S, S) with a dynamic batch axis, output `logits`): the independent truth for
the ONNX import of a network we also have natively (test/models/onnx-resnet18.test.ts) and the
ONNX row of `sds bench`. Weights come from a safetensors state_dict (F16/F32/I64, parsed here with
json + struct: the `safetensors` package is not a Debian package) or, without --weights, from
torchvision's seeded initialisation.

Usage (the Debian PyTorch 1.13, not a pyenv python):
  /usr/bin/python3 test/support/torch-export.py --out model.onnx [--arch resnet18] [--classes 3]
      [--weights state_dict.safetensors] [--size 224] [--seed 0] [--fold-bn] [--logits-for case.safetensors]
--fold-bn keeps torch.onnx's default eval export (BatchNorm folded into the convs); without it every
BatchNorm stays a node of its own (TrainingMode.PRESERVE on an eval model), like the reference files.
--logits-for prints PyTorch's logits for the case file's `input` as JSON on stdout.
"""
import argparse
import json
import struct
import sys
import warnings

import torch
import torchvision

warnings.filterwarnings('ignore')

DTYPES = {'F16': torch.float16, 'F32': torch.float32, 'F64': torch.float64, 'I64': torch.int64, 'I32': torch.int32}


def read_safetensors(path):
    """{name: tensor} of a safetensors file (8-byte header length, JSON header, raw little-endian data)."""
    with open(path, 'rb') as f:
        raw = f.read()
    n = struct.unpack('<Q', raw[:8])[0]
    header = json.loads(raw[8:8 + n])
    out = {}
    for name, info in header.items():
        if name == '__metadata__':
            continue
        if info['dtype'] not in DTYPES:
            sys.exit(f'{path}: tensor {name} has dtype {info["dtype"]}, which this script does not read')
        a, b = info['data_offsets']
        buf = bytearray(raw[8 + n + a:8 + n + b])
        t = torch.frombuffer(buf, dtype=DTYPES[info['dtype']]) if b > a else torch.zeros(0, dtype=DTYPES[info['dtype']])
        out[name] = t.reshape(info['shape']).clone()
    return out


def main():
    p = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    p.add_argument('--out', required=True)
    p.add_argument('--arch', default='resnet18', choices=['resnet18', 'resnet34', 'resnet50'])
    p.add_argument('--classes', type=int, default=3)
    p.add_argument('--weights')
    p.add_argument('--size', type=int, default=224)
    p.add_argument('--seed', type=int, default=0)
    p.add_argument('--fold-bn', action='store_true')
    p.add_argument('--logits-for')
    a = p.parse_args()

    torch.manual_seed(a.seed)
    model = getattr(torchvision.models, a.arch)(num_classes=a.classes)
    if a.weights:
        sd = read_safetensors(a.weights)
        try:
            model.load_state_dict({k: v.float() if v.is_floating_point() else v for k, v in sd.items()}, strict=True)
        except RuntimeError as e:
            problems = [line.strip() for line in str(e).splitlines()[1:] if line.strip()]
            sys.exit(f'{a.weights} is not a torchvision {a.arch}(num_classes={a.classes}) state_dict: '
                     f'{"; ".join(problems)[:500]} (pass the --arch and --classes the weights were trained with)')
    model.eval()
    x = torch.zeros(1, 3, a.size, a.size)
    mode = torch.onnx.TrainingMode.EVAL if a.fold_bn else torch.onnx.TrainingMode.PRESERVE
    with torch.no_grad():
        torch.onnx.export(model, x, a.out, opset_version=13, input_names=['input'], output_names=['logits'],
                          dynamic_axes={'input': {0: 'batch'}, 'logits': {0: 'batch'}}, training=mode,
                          do_constant_folding=True)
    if a.logits_for:
        inp = read_safetensors(a.logits_for)['input'].float()
        with torch.no_grad():
            y = model(inp)
        json.dump({'shape': list(y.shape), 'logits': y.flatten().tolist()}, sys.stdout)
    print(f'torch-export: {a.arch} ({a.classes} classes, {"weights " + a.weights if a.weights else "seed " + str(a.seed)}) '
          f'at {a.size} px -> {a.out}{" (BatchNorm folded)" if a.fold_bn else ""}', file=sys.stderr)


if __name__ == '__main__':
    main()
