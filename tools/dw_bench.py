"""One training step of the README's backbone on the CPU: in fp32, in bf16 autocast, and in bf16 with `DepthwiseFP32Grads`.

    python tools/dw_bench.py [--arch lite2] [--size 300] [--bs 32] [--steps 3] [--rounds 2] [--frozen]

`--frozen` times the frozen phase of `fit_defects`: the body's weights frozen, its BatchNorm layers and the head trained.

Each round times `steps` steps of every arm, after a warm-up step each, in an order that turns round every round,
so that a machine whose speed drifts treats the arms alike. It prints the median step of each arm and the ratios.
Run it with nothing else on the machine: it measures wall time.
"""
import argparse, contextlib, statistics, time
import torch, torch.nn.functional as F
from fastai.vision.all import create_vision_model
from nexai.weights import arch_fn
from nexai.learner import DepthwiseFP32Grads

ARMS = {'fp32': (False, False), 'bf16 autocast': (True, False), 'bf16 autocast + DepthwiseFP32Grads': (True, True)}

def main():
    p = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    p.add_argument('--arch', default='lite2'); p.add_argument('--size', type=int, default=300)
    p.add_argument('--bs', type=int, default=32); p.add_argument('--steps', type=int, default=3)
    p.add_argument('--rounds', type=int, default=2)
    p.add_argument('--frozen', action='store_true', help="the body frozen but for its BatchNorm layers, as fastai's `freeze` leaves it")
    a = p.parse_args()
    torch.manual_seed(0)
    model = create_vision_model(arch_fn(a.arch), 2).train().to(memory_format=torch.channels_last)
    if a.frozen:
        for mod in model[0].modules():
            if not isinstance(mod, torch.nn.modules.batchnorm._BatchNorm):
                for q in mod.parameters(recurse=False): q.requires_grad_(False)
    opt = torch.optim.Adam(model.parameters(), 1e-4)
    x = torch.randn(a.bs, 3, a.size, a.size).contiguous(memory_format=torch.channels_last)
    y = torch.randint(0, 2, (a.bs,))
    def step(arm):
        bf16,fp32_grads = ARMS[arm]
        t0 = time.perf_counter()
        with torch.autocast('cpu', dtype=torch.bfloat16, enabled=bf16), (DepthwiseFP32Grads() if fp32_grads else contextlib.nullcontext()):
            loss = F.cross_entropy(model(x), y)
        loss.backward(); opt.step(); opt.zero_grad(set_to_none=True)
        return time.perf_counter()-t0
    times = {k: [] for k in ARMS}
    for r in range(a.rounds):
        for arm in (list(ARMS) if r%2==0 else list(ARMS)[::-1]):
            step(arm)  # warm-up
            times[arm] += [step(arm) for _ in range(a.steps)]
    med = {k: statistics.median(v) for k,v in times.items()}
    print(f"{a.arch}, {a.size} px, batch {a.bs}, {'body frozen but BatchNorm, ' if a.frozen else ''}channels-last, {torch.get_num_threads()} threads, {a.rounds}×{a.steps} steps an arm; median s a step (min)")
    for k in ARMS: print(f"  {k:36s} {med[k]:.2f} s ({min(times[k]):.2f})   {med['fp32']/med[k]:.2f}× fp32")
    print(f"  DepthwiseFP32Grads: {med['bf16 autocast']/med['bf16 autocast + DepthwiseFP32Grads']:.2f}× bf16 autocast alone")

if __name__ == '__main__': main()
