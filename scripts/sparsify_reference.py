"""A PyTorch TopK SAE trainer with sparsify's recipe (EleutherAI/sparsify, read for its method, not
copied), the reference of scripts/recipeBench.mjs. It trains on the rows of a saelab activation store
and writes a sparsify folder (cfg.json + sae.safetensors, weights in the model's units) that
`saelab eval` and scripts/recipeStore.mjs load like saelab's own SAEs.

The recipe, sparsify's:
- encoder: torch.nn.Linear(d_in, d_sae) default init (U(±1/√d_in): rows of norm ≈ 1/√3), bias 0;
  decoder: a copy of the encoder rows, scaled to unit norm; b_dec: geometric median of the first batch;
- data: a full random permutation of the store's rows (seeded), a new one every epoch.
What is held equal to saelab so that only the recipe differs: TopK of ReLU((x − b_dec)·W_enc + b_enc),
loss = Σ_j (x̂ − x)² averaged over tokens, decoder rows kept at unit norm (gradient parallel to each
row removed before the step, rows renormalised after), Adam(lr, betas 0.9/0.999, eps 1e-8), the LR
constant then linear decay to 0 over the last 20 % of steps, inputs scaled to E‖x‖² = d_in on the
first 32,768 rows (the factor folded into the saved weights). AuxK does not act at these budgets
(dead after 10M tokens in both) and is not implemented here.

  /usr/bin/python3 scripts/sparsify_reference.py --store TRAIN_STORE --tokens 1000000 --seed 0 --out DIR
"""
import argparse, json, math, os, struct, time
import numpy as np
import torch


def load_rows(store):
    m = json.load(open(os.path.join(store, 'manifest.json')))
    hook = m['hooks'][0]
    d = m['dIn'][hook]
    assert m['dtype'] == 'f32' and len(m['hooks']) == 1, 'one f32 hook expected'
    out = np.empty((m['totalRows'], d), dtype=np.float32)
    at = 0
    for s in m['shards']:
        a = np.fromfile(os.path.join(store, s['file']), dtype='<f4', count=s['rows'] * d)
        out[at:at + s['rows']] = a.reshape(s['rows'], d)
        at += s['rows']
    return torch.from_numpy(out), m


def geometric_median(x, iters=100, ftol=1e-20, eps=1e-8):
    """Weiszfeld iterations from the mean (the method of sparsify's and SAELens' geometric median)."""
    x = x.double()
    m = x.mean(0)
    obj = (x - m).norm(dim=1).mean()
    for _ in range(iters):
        w = 1 / (x - m).norm(dim=1).clamp_min(eps)
        m = (w[:, None] * x).sum(0) / w.sum()
        nobj = (x - m).norm(dim=1).mean()
        if abs(obj - nobj) <= ftol * obj:
            break
        obj = nobj
    return m.float()


def save_safetensors(path, tensors):
    header, blobs, at = {}, [], 0
    for name, t in tensors.items():
        b = t.detach().contiguous().float().numpy().astype('<f4').tobytes()
        header[name] = {'dtype': 'F32', 'shape': list(t.shape), 'data_offsets': [at, at + len(b)]}
        blobs.append(b)
        at += len(b)
    h = json.dumps(header).encode()
    h += b' ' * ((8 - len(h) % 8) % 8)
    with open(path + '.tmp', 'wb') as f:
        f.write(struct.pack('<Q', len(h)) + h)
        for b in blobs:
            f.write(b)
    os.replace(path + '.tmp', path)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument('--store', required=True)
    ap.add_argument('--tokens', type=int, required=True)
    ap.add_argument('--seed', type=int, default=0)
    ap.add_argument('--data-seed', type=int, default=1234)
    ap.add_argument('--d-sae', type=int, default=3072)
    ap.add_argument('--k', type=int, default=32)
    ap.add_argument('--batch-size', type=int, default=4096)
    ap.add_argument('--lr', type=float, default=3e-4)
    ap.add_argument('--threads', type=int, default=2)
    ap.add_argument('--out', required=True)
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    x_all, manifest = load_rows(a.store)
    n_rows, d_in = x_all.shape
    steps = a.tokens // a.batch_size
    gen = torch.Generator().manual_seed(a.data_seed)

    def batches():
        while True:
            perm = torch.randperm(n_rows, generator=gen)
            for i in range(0, n_rows - a.batch_size + 1, a.batch_size):
                yield x_all[perm[i:i + a.batch_size]]

    it = batches()
    first = [next(it) for _ in range(max(1, math.ceil(32768 / a.batch_size)))]
    factor = math.sqrt(d_in / torch.cat(first).double().pow(2).sum(1).mean().item())

    torch.manual_seed(a.seed)
    enc = torch.nn.Linear(d_in, a.d_sae)
    enc.bias.data.zero_()
    W_dec = torch.nn.Parameter(enc.weight.data.clone())
    W_dec.data /= W_dec.data.norm(dim=1, keepdim=True)
    b_dec = torch.nn.Parameter(geometric_median(first[0] * factor))
    params = [enc.weight, enc.bias, W_dec, b_dec]
    opt = torch.optim.Adam(params, lr=a.lr, betas=(0.9, 0.999), eps=1e-8)
    decay_from = steps - int(steps * 0.2)
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda s: 1.0 if s < decay_from else max(0.0, (steps - s) / (steps - decay_from)))

    t0 = time.time()
    log = []
    for step in range(steps):
        x = (first[step] if step < len(first) else next(it)) * factor
        pre = torch.relu((x - b_dec) @ enc.weight.T + enc.bias)
        v, i = pre.topk(a.k, dim=-1, sorted=False)
        xh = torch.zeros_like(pre).scatter_(-1, i, v) @ W_dec + b_dec
        loss = (xh - x).pow(2).sum(-1).mean()
        opt.zero_grad(set_to_none=True)
        loss.backward()
        with torch.no_grad():
            g = W_dec.grad
            g -= (g * W_dec).sum(1, keepdim=True) * W_dec
        opt.step()
        sched.step()
        with torch.no_grad():
            W_dec.data /= W_dec.data.norm(dim=1, keepdim=True)
        if (step + 1) % 50 == 0 or step + 1 == steps:
            log.append({'step': step + 1, 'mse': loss.item()})
    secs = time.time() - t0

    os.makedirs(a.out, exist_ok=True)
    with torch.no_grad():
        save_safetensors(os.path.join(a.out, 'sae.safetensors'), {
            'encoder.weight': enc.weight * factor, 'encoder.bias': enc.bias,
            'W_dec': W_dec / factor, 'b_dec': b_dec / factor,
        })
    json.dump({'d_in': d_in, 'num_latents': a.d_sae, 'k': a.k, 'activation': 'topk', 'normalize_decoder': True,
               'reference': {'recipe': 'sparsify-style', 'tokens': steps * a.batch_size, 'seed': a.seed, 'data_seed': a.data_seed,
                             'lr': a.lr, 'batch_size': a.batch_size, 'norm_scaling_factor_folded': factor, 'seconds': secs,
                             'tokens_per_second': steps * a.batch_size / secs, 'torch': torch.__version__, 'threads': torch.get_num_threads()}},
              open(os.path.join(a.out, 'cfg.json'), 'w'), indent=1)
    print(json.dumps({'out': a.out, 'steps': steps, 'seconds': round(secs, 1), 'tokens_per_second': round(steps * a.batch_size / secs), 'last_mse': log[-1]['mse'] if log else None}), flush=True)


if __name__ == '__main__':
    main()
