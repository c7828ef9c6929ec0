"""Peak memory of scoring with a model of normality, for few files and for many: does it stay flat?

    python tools/score_memory.py [--counts 300,3000] [--size 64] [--method padim] [--out /tmp/score_memory]

Writes `max(counts)` small synthetic cells, fits a model of normality on 40 of them (`nexai-normality fit`), then
scores the first N of them with `nexai-predict` and with `nexai-normality score`, each in a fresh process, and prints
each run's peak resident memory (ru_maxrss of the child) and the ratio of the largest count's to the smallest's.
Issue 31 asks for a ratio within 1.5.
"""
import argparse, subprocess, sys
from pathlib import Path

def main():
    p = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    p.add_argument('--counts', default='300,3000'); p.add_argument('--size', type=int, default=64)
    p.add_argument('--method', default='padim'); p.add_argument('--out', default='/tmp/score_memory')
    a = p.parse_args()
    counts = sorted(int(o) for o in a.counts.split(','))
    from nexai.core import synth_defects
    out = Path(a.out); imgs = out/'imgs'
    if not imgs.is_dir() or len(list(imgs.glob('*/*.png'))) < max(counts):
        synth_defects(imgs, n_good=max(counts), n_defect=0, size=a.size)
    files = sorted(imgs.glob('*/*.png'))
    fit = out/'fit'; fit.mkdir(parents=True, exist_ok=True)
    for f in files[:40]: (fit/f.name).exists() or (fit/f.name).symlink_to(f)
    model = out/f'model_{a.method}'
    if not (model/'model.json').is_file():
        subprocess.run(['nexai-normality', 'fit', str(fit), '--method', a.method, '--size', str(a.size), '--out', str(model)], check=True, capture_output=True)
    # ru_maxrss of RUSAGE_CHILDREN is the largest of all children so far: one fresh interpreter per measurement
    res = {}
    for cmd in ('predict', 'normality score'):
        for n in counts:
            lst = out/f'list_{n}'
            if not lst.is_dir():
                lst.mkdir()
                for f in files[:n]: (lst/f.name).symlink_to(f)
            argv = ['nexai-predict', str(model), str(lst), '--out', str(out/f'p_{n}.csv')] if cmd=='predict' else ['nexai-normality', 'score', str(model), str(lst), '--out', str(out/f's_{n}.csv')]
            wrapped = [sys.executable, '-c', f"import resource,subprocess,sys; r=subprocess.run({argv!r}); print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss); sys.exit(r.returncode)"]
            r = subprocess.run(wrapped, capture_output=True, text=True)
            if r.returncode: sys.exit(f"{' '.join(argv)} failed:\n{r.stderr[-2000:]}")
            res[cmd, n] = int(r.stdout.split()[-1])/1024
            print(f"nexai-{cmd} {a.method} at {a.size} px, {n:>5} files: peak RSS {res[cmd, n]:.0f} MiB")
        print(f"nexai-{cmd}: {max(counts)} files / {min(counts)} files = {res[cmd, max(counts)]/res[cmd, min(counts)]:.2f}x")

if __name__ == '__main__': main()
