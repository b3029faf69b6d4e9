#!/usr/bin/env python3
"""Exports DINOv2-S/14 (transformers Dinov2Model: hidden 384, 12 layers,
6 heads, 224x224, random weights) to ONNX and writes a batch of random
images, for timing mpdbg against PyTorch.

usage: bench/export_dinov2.py OUT_DIR [--batch N] [--dynamo]
"""
import argparse
import os

import torch
from safetensors.torch import save_file
from transformers import Dinov2Config, Dinov2Model


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("out")
    ap.add_argument("--batch", type=int, default=1)
    ap.add_argument("--dynamo", action="store_true")
    args = ap.parse_args()
    os.makedirs(args.out, exist_ok=True)
    torch.manual_seed(0)
    cfg = Dinov2Config(hidden_size=384, num_hidden_layers=12, num_attention_heads=6,
                       intermediate_size=1536, image_size=224, patch_size=14)
    model = Dinov2Model(cfg).eval()
    x = torch.randn(args.batch, 3, 224, 224)
    path = os.path.join(args.out, "dinov2_s.onnx")
    torch.onnx.export(model, (x,), path, input_names=["pixel_values"],
                      output_names=["last_hidden_state", "pooler_output"],
                      dynamic_axes=None if args.dynamo else {"pixel_values": {0: "batch"}},
                      opset_version=17 if not args.dynamo else 18, dynamo=args.dynamo)
    save_file({"pixel_values": x}, os.path.join(args.out, f"batch_b{args.batch}.safetensors"))
    with torch.no_grad():
        ref = model(pixel_values=x)
    save_file({"last_hidden_state": ref.last_hidden_state.clone(),
               "pooler_output": ref.pooler_output.clone()},
              os.path.join(args.out, f"torch_b{args.batch}.safetensors"))
    print(path)


if __name__ == "__main__":
    main()
