#!/usr/bin/env python3
"""A real LLM inference workload for GPU power validation (no download).

A decoder-only transformer in the Llama style (RMSNorm, rotary positions,
grouped-query attention through PyTorch's scaled_dot_product_attention,
SwiGLU MLP) with RANDOM bf16 weights, created directly on the GPU. Its
shapes are those of an ~8 B-parameter model (hidden 4096, 32 layers,
32 query / 8 KV heads, MLP 14336, vocabulary 128256), so memory traffic and
arithmetic per token are those of a real 8 B model; the text it generates
is meaningless, which does not matter for power.

For each batch size it runs
  prefill  one forward pass over batch x prompt_len tokens (fills the KV cache),
  decode   greedy token-by-token generation with the KV cache, until
           --decode-seconds have passed or --max-new-tokens are made,
  idle     --idle-seconds of nothing, so every phase has clean edges,
and writes markers on firmus's marker channel (docs/MARKERS.md): lines
"start prefill", "end prefill", "start decode", "end decode tokens=N" (and
"mark load_start" / "mark load_done" around model creation) with
t_ns = time.monotonic_ns() taken after torch.cuda.synchronize(), to the file
descriptor in $FIRMUS_MARK_FD (nothing is written when it is unset).
"tokens" counts generated tokens: batch x decode steps.

A JSON report (--report) lists per batch: prompt tokens, prefill seconds,
generated tokens, decode seconds, tokens/s and the marker times.

--size tiny runs a 2-layer toy on the CPU (for tests where PyTorch exists);
without PyTorch, --help still works and a run exits 3 with a clear message.
Run time with the defaults on one H100/H200: about 15 s to start and create
the weights plus about 3 x (prefill + 8 s decode + 3 s idle) = ~50-60 s.
"""

import argparse
import json
import math
import os
import sys
import time

try:
    import torch
    import torch.nn.functional as F
except ImportError:  # guarded: the script must import and --help without torch
    torch = None
    F = None

# Model shapes: name -> (hidden, layers, q_heads, kv_heads, mlp, vocab)
SIZES = {
    "8b": (4096, 32, 32, 8, 14336, 128256),
    "3b": (3072, 28, 24, 8, 8192, 128256),
    "1b": (2048, 16, 32, 8, 8192, 128256),
    "tiny": (64, 2, 4, 2, 128, 256),
}


def param_count(size):
    hidden, layers, heads, kv_heads, mlp, vocab = SIZES[size]
    head_dim = hidden // heads
    per_layer = hidden * (heads + 2 * kv_heads) * head_dim + heads * head_dim * hidden + 3 * hidden * mlp + 2 * hidden
    return 2 * vocab * hidden + layers * per_layer + hidden


class Markers:
    """Writes marker lines to $FIRMUS_MARK_FD (no-op when it is unset)."""

    def __init__(self):
        self.fd = None
        fd_text = os.environ.get("FIRMUS_MARK_FD")
        if fd_text:
            try:
                self.fd = int(fd_text)
            except ValueError:
                print("llm_inference: FIRMUS_MARK_FD=%r is not a number; no markers" % fd_text, file=sys.stderr)

    def send(self, text):
        t_ns = time.monotonic_ns()
        if self.fd is not None:
            try:
                os.write(self.fd, ("%s t_ns=%d\n" % (text, t_ns)).encode())
            except OSError as e:
                print("llm_inference: marker channel failed (%s); no more markers" % e, file=sys.stderr)
                self.fd = None
        return t_ns


class Decoder:
    """The transformer: weights as plain tensors, a preallocated KV cache."""

    def __init__(self, size, device, dtype, seed, max_batch, max_seq):
        hidden, layers, heads, kv_heads, mlp, vocab = SIZES[size]
        self.hidden, self.heads, self.kv_heads, self.vocab = hidden, heads, kv_heads, vocab
        self.head_dim = hidden // heads
        self.device, self.dtype = device, dtype
        gen = torch.Generator(device=device)
        gen.manual_seed(seed)

        def weight(rows, cols):
            w = torch.randn(rows, cols, device=device, dtype=dtype, generator=gen)
            return w.mul_(1.0 / math.sqrt(rows))

        self.embed = weight(vocab, hidden)
        self.lm_head = weight(hidden, vocab)
        self.final_norm = torch.ones(hidden, device=device, dtype=dtype)
        qkv_cols = (heads + 2 * kv_heads) * self.head_dim
        self.layers = []
        for _ in range(layers):
            self.layers.append({
                "norm1": torch.ones(hidden, device=device, dtype=dtype),
                "wqkv": weight(hidden, qkv_cols),
                "wo": weight(heads * self.head_dim, hidden),
                "norm2": torch.ones(hidden, device=device, dtype=dtype),
                "w_gate_up": weight(hidden, 2 * mlp),
                "w_down": weight(mlp, hidden),
            })
        cache_shape = (max_batch, kv_heads, max_seq, self.head_dim)
        self.cache_k = [torch.zeros(cache_shape, device=device, dtype=dtype) for _ in range(layers)]
        self.cache_v = [torch.zeros(cache_shape, device=device, dtype=dtype) for _ in range(layers)]
        half = self.head_dim // 2
        inv_freq = 1.0 / (500000.0 ** (torch.arange(half, device=device, dtype=torch.float32) / half))
        angles = torch.outer(torch.arange(max_seq, device=device, dtype=torch.float32), inv_freq)
        self.cos = angles.cos().to(dtype)
        self.sin = angles.sin().to(dtype)

    @staticmethod
    def rms_norm(x, weight):
        x32 = x.float()
        x32 = x32 * torch.rsqrt(x32.pow(2).mean(-1, keepdim=True) + 1e-5)
        return x32.to(x.dtype) * weight

    def rotate(self, x, pos0):
        # x: batch, tokens, heads, head_dim
        t = x.shape[1]
        cos = self.cos[pos0:pos0 + t][None, :, None, :]
        sin = self.sin[pos0:pos0 + t][None, :, None, :]
        x1, x2 = x.chunk(2, dim=-1)
        return torch.cat((x1 * cos - x2 * sin, x1 * sin + x2 * cos), dim=-1)

    def forward(self, tokens, pos0):
        """Runs tokens [batch, t] at positions pos0.. through the model,
        writing K/V into the cache; returns the next token per sequence."""
        batch, t = tokens.shape
        hd, nh, nkv = self.head_dim, self.heads, self.kv_heads
        x = self.embed[tokens]
        for i, layer in enumerate(self.layers):
            h = self.rms_norm(x, layer["norm1"])
            q, k, v = (h @ layer["wqkv"]).split((nh * hd, nkv * hd, nkv * hd), dim=-1)
            q = self.rotate(q.view(batch, t, nh, hd), pos0).transpose(1, 2)
            k = self.rotate(k.view(batch, t, nkv, hd), pos0).transpose(1, 2)
            v = v.view(batch, t, nkv, hd).transpose(1, 2)
            self.cache_k[i][:batch, :, pos0:pos0 + t] = k
            self.cache_v[i][:batch, :, pos0:pos0 + t] = v
            keys = self.cache_k[i][:batch, :, :pos0 + t]
            values = self.cache_v[i][:batch, :, :pos0 + t]
            attn = attention(q, keys, values, causal=(t > 1))
            x = x + attn.transpose(1, 2).reshape(batch, t, nh * hd) @ layer["wo"]
            h = self.rms_norm(x, layer["norm2"])
            gate, up = (h @ layer["w_gate_up"]).chunk(2, dim=-1)
            x = x + (F.silu(gate) * up) @ layer["w_down"]
        last = self.rms_norm(x[:, -1, :], self.final_norm)
        return (last @ self.lm_head).argmax(dim=-1, keepdim=True)


def attention(q, k, v, causal):
    """Grouped-query attention: PyTorch's fused kernel where it has GQA
    support (2.5+), else the same maths written out (older PyTorch, for the
    CPU test)."""
    try:
        return F.scaled_dot_product_attention(q, k, v, is_causal=causal, enable_gqa=True)
    except (AttributeError, TypeError):
        groups = q.shape[1] // k.shape[1]
        k = k.repeat_interleave(groups, dim=1)
        v = v.repeat_interleave(groups, dim=1)
        scores = (q @ k.transpose(-2, -1)) / math.sqrt(q.shape[-1])
        if causal:
            tq, tk = q.shape[-2], k.shape[-2]
            mask = torch.ones(tq, tk, dtype=torch.bool, device=q.device).tril(tk - tq)
            scores = scores.masked_fill(~mask, float("-inf"))
        return scores.softmax(dim=-1) @ v


def synchronize(device):
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def run_batch(model, batch, prompt_len, max_new, decode_s, device, markers, gen):
    """Prefill then decode one batch; returns the per-batch report."""
    prompt = torch.randint(0, model.vocab, (batch, prompt_len), device=device, generator=gen)
    synchronize(device)
    report = {"batch": batch, "prompt_tokens": batch * prompt_len}
    with torch.inference_mode():
        report["prefill_start_ns"] = markers.send("start prefill")
        token = model.forward(prompt, 0)
        synchronize(device)
        report["prefill_end_ns"] = markers.send("end prefill")
        report["decode_start_ns"] = markers.send("start decode")
        steps, pos = 0, prompt_len
        deadline = time.monotonic() + decode_s
        while steps < max_new and time.monotonic() < deadline:
            token = model.forward(token, pos)
            pos += 1
            steps += 1
            if steps % 16 == 0:
                synchronize(device)  # keep the deadline honest (bounded queue)
        synchronize(device)
        generated = batch * steps
        report["decode_end_ns"] = markers.send("end decode tokens=%d" % generated)
    report["generated_tokens"] = generated
    report["decode_steps"] = steps
    report["prefill_s"] = (report["prefill_end_ns"] - report["prefill_start_ns"]) / 1e9
    report["decode_s"] = (report["decode_end_ns"] - report["decode_start_ns"]) / 1e9
    report["decode_tokens_per_s"] = generated / report["decode_s"] if report["decode_s"] > 0 else None
    return report


def parse_args(argv):
    ap = argparse.ArgumentParser(description="Random-weight LLM inference workload (prefill + KV-cache decode) with firmus markers.")
    ap.add_argument("--size", choices=sorted(SIZES), default="8b", help="model shape (default 8b; tiny = CPU toy)")
    ap.add_argument("--batches", default="1,16,64", help="batch sizes, comma-separated (default 1,16,64)")
    ap.add_argument("--prompt-len", type=int, default=1024, help="prompt tokens per sequence (default 1024)")
    ap.add_argument("--max-new-tokens", type=int, default=1024, help="decode steps at most (default 1024)")
    ap.add_argument("--decode-seconds", type=float, default=8.0, help="decode time per batch, s (default 8)")
    ap.add_argument("--idle-seconds", type=float, default=3.0, help="idle gap after each batch, s (default 3)")
    ap.add_argument("--device", default=None, help="cuda or cpu (default: cuda if available)")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--report", help="write the JSON report here (default: stdout)")
    args = ap.parse_args(argv)
    try:
        args.batch_list = [int(b) for b in args.batches.split(",") if b]
    except ValueError:
        ap.error("--batches wants integers like 1,16,64")
    if not args.batch_list or min(args.batch_list) < 1 or args.prompt_len < 1 or args.max_new_tokens < 1:
        ap.error("batch sizes, --prompt-len and --max-new-tokens must be >= 1")
    return args


def main(argv=None):
    args = parse_args(argv)
    if torch is None:
        print("llm_inference: PyTorch is not installed; this workload needs it (pip/conda install torch)", file=sys.stderr)
        return 3
    t_start = time.monotonic()
    device = torch.device(args.device or ("cuda" if torch.cuda.is_available() else "cpu"))
    dtype = torch.bfloat16 if device.type == "cuda" else torch.float32
    markers = Markers()
    max_batch = max(args.batch_list)
    max_seq = args.prompt_len + args.max_new_tokens
    report = {
        "workload": "llm_inference.py",
        "size": args.size,
        "params": param_count(args.size),
        "device": str(device),
        "device_name": torch.cuda.get_device_name(device) if device.type == "cuda" else "cpu",
        "dtype": str(dtype).replace("torch.", ""),
        "torch": torch.__version__,
        "prompt_len": args.prompt_len,
        "batches": [],
    }
    gen = torch.Generator(device=device)
    gen.manual_seed(args.seed + 1)
    markers.send("mark load_start")
    model = Decoder(args.size, device, dtype, args.seed, max_batch, max_seq)
    # warm-up: one short prefill and decode step so kernels are chosen and
    # the first measured prefill is not dominated by one-time set-up
    with torch.inference_mode():
        warm = torch.randint(0, model.vocab, (1, min(16, args.prompt_len)), device=device, generator=gen)
        model.forward(model.forward(warm, 0), warm.shape[1])
    synchronize(device)
    markers.send("mark load_done")
    report["load_s"] = time.monotonic() - t_start
    if device.type == "cuda":
        report["gpu_mem_allocated_gib"] = torch.cuda.memory_allocated(device) / 2**30
    time.sleep(args.idle_seconds)
    for batch in args.batch_list:
        try:
            result = run_batch(model, batch, args.prompt_len, args.max_new_tokens, args.decode_seconds, device, markers, gen)
        except RuntimeError as e:  # e.g. CUDA out of memory: report it, go on with the next batch
            markers.send("mark batch_failed")
            report["batches"].append({"batch": batch, "error": str(e).splitlines()[0][:300]})
            print("llm_inference: batch %d failed: %s" % (batch, str(e).splitlines()[0][:300]), file=sys.stderr)
            if device.type == "cuda":
                torch.cuda.empty_cache()
            time.sleep(args.idle_seconds)
            continue
        report["batches"].append(result)
        print("llm_inference: batch %d: prefill %.3f s (%d tokens), decode %d tokens in %.2f s" %
              (batch, result["prefill_s"], result["prompt_tokens"], result["generated_tokens"], result["decode_s"]),
              file=sys.stderr)
        time.sleep(args.idle_seconds)
    report["generated_tokens"] = sum(b.get("generated_tokens", 0) for b in report["batches"])
    report["total_s"] = time.monotonic() - t_start
    text = json.dumps(report, indent=2)
    if args.report:
        with open(args.report, "w") as f:
            f.write(text + "\n")
    else:
        print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
