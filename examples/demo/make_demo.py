#!/usr/bin/env python3
"""make_demo.py OUT_DIR [--steps N] - makes mpdbg's demo: a small hand-pose
model trained on synthetic hands, exported with torch.onnx, and a few batches
stored as a GPU-cached dataset stores them.

The images are rendered here: a random hand (21 joints: the wrist, then four
per finger) in a random pose, rotated and placed in front of a pinhole camera
with random intrinsics, drawn as coloured bones and joints over a random
texture.  The model: a ViT backbone (14x14 patches of a 112x112 image, a
class token, 4 pre-norm blocks), an MLP head giving the 21 joints in the
camera frame, and the projection with each sample's intrinsics,
joints_2d = (joints_3d @ K^T)[..., :2] / (...)[..., 2:3].  Trained briefly
(a few minutes on one GPU) so that its predictions follow the hands.

Writes OUT_DIR/demo.onnx and OUT_DIR/batches/batch_00N.safetensors (image in
bfloat16, camera_intrinsics in float32, joints_3d_gt, joints_2d_gt), and
prints how well it does.  Needs PyTorch and safetensors; mpdbg itself never
runs Python.
"""
import argparse
import math
import os
import time

import torch
import torch.nn as nn
import torch.nn.functional as F
from safetensors.torch import save_file

IMG, PATCH, J = 112, 14, 21
FINGER_RGB = [(0.894, 0.102, 0.110), (0.302, 0.686, 0.290), (0.216, 0.494, 0.722),
              (1.000, 0.498, 0.000), (0.596, 0.306, 0.639)]  # thumb .. little, as mpdbg draws them
BONES = [(0 if k == 0 else 1 + 4 * f + k - 1, 1 + 4 * f + k) for f in range(5) for k in range(4)]


def hands(n, dev, g):
    """n random hands in their own frame (metres): [n, 21, 3]."""
    r = lambda *s: torch.rand(*s, device=dev, generator=g)
    base = torch.tensor([[-0.030, 0.025, 0.0], [-0.022, 0.085, 0.0], [-0.004, 0.090, 0.0],
                         [0.014, 0.085, 0.0], [0.030, 0.075, 0.0]], device=dev)
    seg = torch.tensor([[0.035, 0.030, 0.025], [0.040, 0.025, 0.020], [0.045, 0.028, 0.022],
                        [0.042, 0.026, 0.020], [0.032, 0.020, 0.018]], device=dev)
    spread = torch.tensor([-0.9, -0.15, 0.0, 0.15, 0.3], device=dev)
    out = torch.zeros(n, J, 3, device=dev)
    scale = 0.85 + 0.3 * r(n, 1)
    for f in range(5):
        p = base[f].expand(n, 3) * scale
        out[:, 1 + 4 * f] = p
        ab = spread[f] + 0.35 * (r(n) - 0.5)
        curl = 0.0
        flex = (1.4 if f else 0.9) * r(n, 3)  # how far each joint bends
        for k in range(3):
            curl = curl + flex[:, k]
            d = torch.stack([torch.sin(ab) * torch.cos(curl), torch.cos(ab) * torch.cos(curl), -torch.sin(curl)], 1)
            p = p + d * seg[f, k] * scale
            out[:, 1 + 4 * f + k + 1] = p
    return out


def rotations(n, dev, g):
    """Any turn in the image plane, up to ~45 degrees out of it: the hand
    mostly faces the camera, as in a hand-tracking dataset."""
    r = lambda: torch.rand(n, device=dev, generator=g)
    a, b, c = 1.6 * (r() - 0.5), 1.6 * (r() - 0.5), 2 * math.pi * r()
    o, z = torch.ones(n, device=dev), torch.zeros(n, device=dev)
    rx = torch.stack([o, z, z, z, a.cos(), -a.sin(), z, a.sin(), a.cos()], 1).view(n, 3, 3)
    ry = torch.stack([b.cos(), z, b.sin(), z, o, z, -b.sin(), z, b.cos()], 1).view(n, 3, 3)
    rz = torch.stack([c.cos(), -c.sin(), z, c.sin(), c.cos(), z, z, z, o], 1).view(n, 3, 3)
    return rz @ rx @ ry


def scenes(n, dev, g):
    """Joints in the camera frame [n,21,3], intrinsics [n,3,3], 2D joints [n,21,2]."""
    r = lambda *s: torch.rand(*s, device=dev, generator=g)
    h = hands(n, dev, g)
    h = h - h.mean(1, keepdim=True)
    cam = h @ rotations(n, dev, g).transpose(1, 2)
    z = 0.32 + 0.2 * r(n)
    t = torch.stack([0.06 * (r(n) - 0.5) * z / 0.4, 0.06 * (r(n) - 0.5) * z / 0.4, z], 1)
    cam = cam + t[:, None, :]
    f = 115 + 35 * r(n)
    K = torch.zeros(n, 3, 3, device=dev)
    K[:, 0, 0], K[:, 1, 1] = f, f
    K[:, 0, 2], K[:, 1, 2] = IMG / 2 + 4 * (r(n) - 0.5), IMG / 2 + 4 * (r(n) - 0.5)
    K[:, 2, 2] = 1
    uvw = cam @ K.transpose(1, 2)
    return cam, K, uvw[..., :2] / uvw[..., 2:3]


def render(j2, dev, g):
    """Bones and joints over a random texture: [n, 3, IMG, IMG] in [0, 1]."""
    n = j2.shape[0]
    r = lambda *s: torch.rand(*s, device=dev, generator=g)
    ys, xs = torch.meshgrid(torch.arange(IMG, device=dev) + 0.5, torch.arange(IMG, device=dev) + 0.5, indexing="ij")
    pix = torch.stack([xs, ys], -1).view(1, -1, 2)
    img = 0.25 + 0.5 * r(n, 3, 1, 1)
    for _ in range(4):  # gratings of random frequency, direction and colour
        w = (0.05 + 0.4 * r(n, 1, 1, 2)) * torch.sign(r(n, 1, 1, 2) - 0.5)
        phase = (pix.view(1, IMG, IMG, 2) * w).sum(-1) + 6.28 * r(n, 1, 1)
        img = img + 0.12 * (r(n, 3, 1, 1) - 0.5) * torch.sin(phase)[:, None]
    img = img + 0.05 * torch.randn(n, 3, IMG, IMG, device=dev, generator=g)
    img = img.clamp(0, 1)
    rgb = torch.tensor([(1.0, 1.0, 1.0)] + [FINGER_RGB[f] for f in range(5) for _ in range(4)], device=dev)
    for a, b in BONES:
        p, q = j2[:, a][:, None], j2[:, b][:, None]
        d = q - p
        tt = ((pix - p) * d).sum(-1) / (d * d).sum(-1).clamp_min(1e-6)
        dist = (pix - (p + tt.clamp(0, 1)[..., None] * d)).norm(dim=-1)
        m = (2.0 - dist).clamp(0, 1).view(n, 1, IMG, IMG)
        img = img * (1 - m) + m * rgb[b].view(1, 3, 1, 1)
    for k in range(J):
        dist = (pix - j2[:, k][:, None]).norm(dim=-1)
        m = (2.8 - dist).clamp(0, 1).view(n, 1, IMG, IMG)
        img = img * (1 - m) + m * rgb[k].view(1, 3, 1, 1) * 0.9
    return img


class Attention(nn.Module):
    def __init__(self, d, heads):
        super().__init__()
        self.heads, self.qkv, self.proj = heads, nn.Linear(d, 3 * d), nn.Linear(d, d)

    def forward(self, x):
        B, N, C = x.shape
        q, k, v = self.qkv(x).view(B, N, 3, self.heads, C // self.heads).permute(2, 0, 3, 1, 4)
        a = (q @ k.transpose(-2, -1)) * (C // self.heads) ** -0.5
        return self.proj((a.softmax(-1) @ v).transpose(1, 2).reshape(B, N, C))


class Block(nn.Module):
    def __init__(self, d, heads):
        super().__init__()
        self.norm1, self.attn = nn.LayerNorm(d), Attention(d, heads)
        self.norm2 = nn.LayerNorm(d)
        self.mlp = nn.Sequential(nn.Linear(d, 4 * d), nn.GELU(), nn.Linear(4 * d, d))

    def forward(self, x):
        x = x + self.attn(self.norm1(x))
        return x + self.mlp(self.norm2(x))


class Backbone(nn.Module):
    def __init__(self, d=96, depth=4, heads=3):
        super().__init__()
        self.patch_embed = nn.Conv2d(3, d, PATCH, PATCH)
        self.cls_token = nn.Parameter(torch.zeros(1, 1, d))
        self.pos_embed = nn.Parameter(0.02 * torch.randn(1, (IMG // PATCH) ** 2 + 1, d))
        self.blocks = nn.Sequential(*[Block(d, heads) for _ in range(depth)])
        self.norm = nn.LayerNorm(d)

    def forward(self, image):
        x = self.patch_embed(image).flatten(2).transpose(1, 2)
        x = torch.cat([self.cls_token.expand(x.shape[0], -1, -1), x], 1) + self.pos_embed
        return self.norm(self.blocks(x))


class HandPose(nn.Module):
    def __init__(self, d=96):
        super().__init__()
        self.backbone = Backbone(d)
        self.head = nn.Sequential(nn.Linear(2 * d, 256), nn.GELU(), nn.Linear(256, 3 * J))

    def forward(self, image, camera_intrinsics):
        f = self.backbone(image)
        f = torch.cat([f[:, 0], f[:, 1:].mean(1)], 1)
        j = self.head(f).view(-1, J, 3)
        joints_3d = j * torch.tensor([0.1, 0.1, 0.1]) + torch.tensor([0.0, 0.0, 0.42])
        uvw = joints_3d @ camera_intrinsics.transpose(1, 2)
        joints_2d = uvw[..., :2] / uvw[..., 2:3]
        return joints_3d, joints_2d


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("out")
    ap.add_argument("--steps", type=int, default=6000)
    ap.add_argument("--batch", type=int, default=128)
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--budget", type=float, default=1e9, help="seconds of training at most")
    args = ap.parse_args()
    dev = "cuda" if torch.cuda.is_available() else "cpu"
    torch.manual_seed(args.seed)
    g = torch.Generator(device=dev).manual_seed(args.seed)
    model = HandPose().to(dev)
    opt = torch.optim.AdamW(model.parameters(), lr=3e-4, weight_decay=0.02)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=3e-4, total_steps=args.steps, pct_start=0.1)
    t0 = time.time()
    for step in range(args.steps):
        with torch.no_grad():
            j3, K, j2 = scenes(args.batch, dev, g)
            img = render(j2, dev, g)
        # the constants in forward() are made on the CPU for a clean export; on the GPU they move with it
        with torch.autocast(dev, dtype=torch.bfloat16, enabled=dev == "cuda"):
            p3, p2 = model_fwd(model, img, K)
            # mostly the 2D joints (what the user sees), some 3D
            loss = F.smooth_l1_loss(p2.float(), j2, beta=2.0) / 10 + 10 * F.l1_loss(p3.float(), j3)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        sched.step()
        last = step == args.steps - 1 or time.time() - t0 > args.budget
        if step % 500 == 0 or last:
            px = (p2.float() - j2).norm(dim=-1).mean().item()
            print(f"step {step:5d}  loss {loss.item():.4f}  2D error {px:.2f} px  {time.time() - t0:.0f} s", flush=True)
        if last:
            break

    model.eval().float().cpu()
    os.makedirs(os.path.join(args.out, "batches"), exist_ok=True)
    g2 = torch.Generator(device="cpu").manual_seed(1234)
    with torch.no_grad():
        for b in range(4):
            j3, K, j2 = scenes(4, "cpu", g2)
            img = render(j2, "cpu", g2)
            p3, p2 = model(img, K)
            print(f"batch {b}: 2D error {(p2 - j2).norm(dim=-1).mean():.2f} px, 3D error "
                  f"{1000 * (p3 - j3).norm(dim=-1).mean():.1f} mm", flush=True)
            save_file({"image": img.to(torch.bfloat16).contiguous(), "camera_intrinsics": K.contiguous(),
                       "joints_3d_gt": j3.contiguous(), "joints_2d_gt": j2.contiguous()},
                      os.path.join(args.out, "batches", f"batch_{b:03d}.safetensors"))
        x, K = img.float(), K
        torch.onnx.export(model, (x, K), os.path.join(args.out, "demo.onnx"), dynamo=False, opset_version=17,
                          input_names=["image", "camera_intrinsics"], output_names=["joints_3d", "joints_2d"],
                          dynamic_axes={"image": {0: "batch"}, "camera_intrinsics": {0: "batch"}})
    print("wrote", os.path.join(args.out, "demo.onnx"))


def model_fwd(model, img, K):
    """forward() with its two constants on the device the model is on."""
    f = model.backbone(img)
    f = torch.cat([f[:, 0], f[:, 1:].mean(1)], 1)
    j = model.head(f).view(-1, J, 3)
    joints_3d = j * 0.1 + torch.tensor([0.0, 0.0, 0.42], device=img.device)
    uvw = joints_3d @ K.transpose(1, 2)
    return joints_3d, uvw[..., :2] / uvw[..., 2:3]


if __name__ == "__main__":
    main()
