"""One training step of the README's backbone on the CPU in bf16, with and without `DepthwiseFP32Grads`.

    python tools/dw_bench.py [--arch lite2] [--size 300] [--bs 32] [--steps 4] [--rounds 3]

Each round times `steps` steps of one arm and then of the other (alternating which goes first), after a warm-up
step each, so that a machine whose speed drifts treats both arms alike. It prints the median step of each arm and
their ratio. Run it with nothing else on the machine: it measures wall time.
"""
import argparse, contextlib, statistics, time
import torch, torch.nn.functional as F
from fastai.vision.all import create_vision_model
from nexai.weights import arch_fn
from nexai.learner import DepthwiseFP32Grads

def main():
    p = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    p.add_argument('--arch', default='lite2'); p.add_argument('--size', type=int, default=300)
    p.add_argument('--bs', type=int, default=32); p.add_argument('--steps', type=int, default=4)
    p.add_argument('--rounds', type=int, default=3)
    a = p.parse_args()
    torch.manual_seed(0)
    model = create_vision_model(arch_fn(a.arch), 2).train().to(memory_format=torch.channels_last)
    opt = torch.optim.Adam(model.parameters(), 1e-4)
    x = torch.randn(a.bs, 3, a.size, a.size).contiguous(memory_format=torch.channels_last)
    y = torch.randint(0, 2, (a.bs,))
    def step(fp32):
        t0 = time.perf_counter()
        with torch.autocast('cpu', dtype=torch.bfloat16), (DepthwiseFP32Grads() if fp32 else contextlib.nullcontext()):
            loss = F.cross_entropy(model(x), y)
        loss.backward(); opt.step(); opt.zero_grad(set_to_none=True)
        return time.perf_counter()-t0
    times = {False: [], True: []}
    for r in range(a.rounds):
        for arm in ((False, True) if r%2==0 else (True, False)):
            step(arm)  # warm-up
            times[arm] += [step(arm) for _ in range(a.steps)]
    med = {k: statistics.median(v) for k,v in times.items()}
    print(f"{a.arch}, {a.size} px, batch {a.bs}, bf16 autocast, {torch.get_num_threads()} threads, {a.rounds}×{a.steps} steps an arm")
    print(f"  autocast alone:                 {med[False]:.2f} s a step (min {min(times[False]):.2f})")
    print(f"  with DepthwiseFP32Grads:        {med[True]:.2f} s a step (min {min(times[True]):.2f})")
    print(f"  {med[False]/med[True]:.2f}× faster")

if __name__ == '__main__': main()
