"""How much of a CPU training step the allocator costs: one Lite2 training step (bs 32, NHWC, bf16 autocast where the CPU has it, AdamW), timed under each allocator

    python tools/malloc_bench.py [--sizes 300,512] [--steps 3]

Each allocator runs in its own process (an allocator is chosen when a process starts): glibc's malloc as Python started, glibc with its
`glibc.malloc.hugetlb=1` tunable, tcmalloc and jemalloc where installed (`LD_PRELOAD`). Each row: wall seconds a step after one warm-up step,
user and system CPU seconds a step, minor page faults a step, and the speed-up over glibc. `nexai.malloc` re-runs the console scripts under
tcmalloc for what this shows.

Measured on this project's 2 CPU cores with bf16 units, alone on the machine (2026-12-07), three runs (a first prototype with 3 steps;
this tool with `--steps 3 --sizes 300`; this tool with `--steps 5`):

    300 px: glibc 2.80 / 2.86 / 2.81 s a step (system 0.5-1.0 s); tcmalloc 1.92 / 2.30 / 2.16 s (system 0.01-0.02 s): 1.46x / 1.24x / 1.30x;
            glibc hugetlb 1.25x / 0.98x / 1.03x; jemalloc (its defaults) 0.76x / 0.57x / 0.69x
    512 px: glibc 9.86 / - / 12.19 s a step (system 6.1-8.6 s, 3.5-3.6 million page faults); tcmalloc 5.74 / - / 6.36 s (system 0.04 s): 1.72x / 1.92x;
            glibc hugetlb 1.15x / 1.32x; jemalloc 0.90x / 0.98x

The README's first command, `nexai-train elpv --report`, alone: 6 min 19 s under glibc (`NEXAI_MALLOC=system`; 306 s of training, 143 s of
system CPU time) and 4 min 53 s under tcmalloc (219 s of training, 10 s of system time), with the same metrics to the last digit.
"""
import argparse, json, os, subprocess, sys
from pathlib import Path
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # nexai from this tree

STEP = r'''
import sys, time, json, resource, torch, timm
size, steps = int(sys.argv[1]), int(sys.argv[2])
torch.manual_seed(0); torch.set_num_threads(max(1, len(__import__('os').sched_getaffinity(0))))
m = timm.create_model('efficientnet_lite2', num_classes=2).to(memory_format=torch.channels_last).train()
opt = torch.optim.AdamW(m.parameters(), 1e-4)
x = torch.randn(32, 3, size, size).contiguous(memory_format=torch.channels_last); y = torch.randint(0, 2, (32,))
from nexai.core import cpu_has_bf16
from nexai.malloc import allocator
bf16 = cpu_has_bf16()
def step():
    with torch.autocast('cpu', dtype=torch.bfloat16, enabled=bf16): loss = torch.nn.functional.cross_entropy(m(x), y)
    opt.zero_grad(); loss.backward(); opt.step()
step()
r0, t0 = resource.getrusage(resource.RUSAGE_SELF), time.time()
for _ in range(steps): step()
r1, t1 = resource.getrusage(resource.RUSAGE_SELF), time.time()
print(json.dumps(dict(allocator=allocator(), bf16=bf16, wall=(t1-t0)/steps, user=(r1.ru_utime-r0.ru_utime)/steps, system=(r1.ru_stime-r0.ru_stime)/steps,
                      faults=(r1.ru_minflt-r0.ru_minflt)/steps, peak_gb=r1.ru_maxrss/1e6)))
'''

def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument('--sizes', default='300,512'); p.add_argument('--steps', type=int, default=3)
    a = p.parse_args()
    from nexai.malloc import find_tcmalloc, glibc_hugetlb
    root = str(Path(__file__).resolve().parent.parent)
    base = {**os.environ, 'PYTHONPATH': os.pathsep.join(o for o in (root, os.environ.get('PYTHONPATH')) if o), 'NEXAI_MALLOC': 'system'}
    base.pop('LD_PRELOAD', None)
    runs = [('glibc', {})]
    if glibc_hugetlb(): runs.append(('glibc hugetlb', {'GLIBC_TUNABLES': 'glibc.malloc.hugetlb=1'}))
    if tc := find_tcmalloc(): runs.append(('tcmalloc', {'LD_PRELOAD': tc, 'TCMALLOC_LARGE_ALLOC_REPORT_THRESHOLD': str(1<<40)}))
    je = next((p for p in ('/usr/lib/x86_64-linux-gnu/libjemalloc.so.2', '/usr/lib/aarch64-linux-gnu/libjemalloc.so.2') if os.path.isfile(p)), None)
    if je: runs.append(('jemalloc', {'LD_PRELOAD': je}))
    for size in (int(s) for s in a.sizes.split(',')):
        ref = None
        for name,env in runs:
            out = subprocess.run([sys.executable, '-c', STEP, str(size), str(a.steps)], env={**base, **env}, capture_output=True, text=True)
            if out.returncode: print(f"{size} px {name}: failed: {out.stderr.strip().splitlines()[-1:]}"); continue
            r = json.loads(out.stdout.strip().splitlines()[-1]); ref = ref or r['wall']
            print(f"{size} px, {name:13s} ({r['allocator']}): {r['wall']:.2f} s a step ({ref/r['wall']:.2f}x glibc), user {r['user']:.2f} s, "
                  f"system {r['system']:.2f} s, {r['faults']:,.0f} page faults, peak {r['peak_gb']:.1f} GB", flush=True)

if __name__ == '__main__': main()
