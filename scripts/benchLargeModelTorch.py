#!/usr/bin/env python3
# PyTorch CPU twin of scripts/benchLargeModel.mjs: a Llama-shaped model (the config.json of a folder
# written by makeShapeModel.mjs) built with torch.nn.functional, random weights in the same dtype
# scheme, forward of one row of `tokens` ids through the first `layers` blocks (a mid-layer hook).
#   weights=bf16: weights held in bfloat16, each block's matrices upcast to f32 right before it runs
#                 (saelab's scheme); weights=f32: held in float32.
# Prints one JSON line: load seconds, forward seconds, tokens/s, peak RSS.
import json, math, resource, sys, time

import torch
import torch.nn.functional as F

folder, tokens, layers, weights, threads = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[4], int(sys.argv[5])
torch.set_num_threads(threads)
torch.manual_seed(0)
cfg = json.load(open(folder + '/config.json'))
d, f, H, KV, hd, V = cfg['hidden_size'], cfg['intermediate_size'], cfg['num_attention_heads'], cfg['num_key_value_heads'], cfg['head_dim'], cfg['vocab_size']
dtype = torch.bfloat16 if weights == 'bf16' else torch.float32

t0 = time.time()
def w(*shape):
    return (torch.randn(*shape) * 0.02).to(dtype)
embed = w(V, d)
blocks = [dict(q=w(H * hd, d), k=w(KV * hd, d), v=w(KV * hd, d), o=w(d, H * hd), gate=w(f, d), up=w(f, d), down=w(d, f)) for _ in range(layers)]
load_s = time.time() - t0

def rms(x, eps=1e-5):
    return x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + eps)  # norm weights are 1

def rope(x, theta):
    T = x.shape[-2]
    inv = 1.0 / (theta ** (torch.arange(0, hd, 2, dtype=torch.float32) / hd))
    ang = torch.arange(T, dtype=torch.float32)[:, None] * inv[None, :]
    cos, sin = torch.cat([ang.cos(), ang.cos()], -1), torch.cat([ang.sin(), ang.sin()], -1)
    x1, x2 = x[..., : hd // 2], x[..., hd // 2 :]
    return x * cos + torch.cat([-x2, x1], -1) * sin

ids = torch.randint(0, V, (tokens,))
mask = torch.full((tokens, tokens), float('-inf')).triu(1)
with torch.no_grad():
    t1 = time.time()
    c1 = time.process_time()
    x = embed[ids].float()
    for b in blocks:
        W = {k: v.float() for k, v in b.items()}  # a no-op copy-free view for f32; the upcast for bf16
        h = rms(x)
        q = (h @ W['q'].T).view(tokens, H, hd).transpose(0, 1)
        k = (h @ W['k'].T).view(tokens, KV, hd).transpose(0, 1)
        v = (h @ W['v'].T).view(tokens, KV, hd).transpose(0, 1)
        q, k = rope(q, cfg['rope_theta']), rope(k, cfg['rope_theta'])
        k, v = k.repeat_interleave(H // KV, 0), v.repeat_interleave(H // KV, 0)
        a = torch.softmax(q @ k.transpose(1, 2) / math.sqrt(hd) + mask, -1) @ v
        x = x + a.transpose(0, 1).reshape(tokens, H * hd) @ W['o'].T
        h = rms(x)
        x = x + (F.silu(h @ W['gate'].T) * (h @ W['up'].T)) @ W['down'].T
    fwd_s = time.time() - t1
    fwd_cpu = time.process_time() - c1
print(json.dumps({'impl': f'pytorch {torch.__version__} ({weights} weights{", upcast per block" if weights == "bf16" else ""})', 'loadSeconds': round(load_s, 2), 'forwardSeconds': round(fwd_s, 2), 'forwardCpuSeconds': round(fwd_cpu, 2),
                  'tokensPerSecond': round(tokens / fwd_s, 1), 'peakRssGB': round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024 / 1e9, 2)}))
