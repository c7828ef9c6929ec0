"""The service on ELPV: the models `nexai-bench serve` measures, and the measurements.

    python tools/line_elpv.py prep [--work /tmp/line]   # Lite0 classifier (quick recipe) + its ONNX, PaDiM, PaDiM on mono cells only
    python tools/line_elpv.py bench [--work /tmp/line]  # nexai-bench serve on each, with the drift streams; figures to WORK/*.txt

Run `bench` alone on the machine: its figures are timings.
"""
import argparse, subprocess, sys, time
from pathlib import Path
import pandas as pd

def sh(*cmd, out=None):
    print('$', ' '.join(map(str, cmd)), flush=True)
    t0 = time.time()
    r = subprocess.run(list(map(str, cmd)), capture_output=True, text=True)
    txt = r.stdout + (r.stderr if r.returncode else '\n'.join(l for l in r.stderr.splitlines() if 'warning' not in l.lower() and '%' not in l))
    print(txt.strip(), f'\n({time.time()-t0:.0f} s, exit {r.returncode})', flush=True)
    if out: Path(out).write_text(f"$ {' '.join(map(str, cmd))}\n{r.stdout}")
    if r.returncode: sys.exit(r.returncode)
    return r.stdout

def prep(w:Path):
    from nexai.data import from_elpv
    df = from_elpv(); w.mkdir(parents=True, exist_ok=True)
    trn = df[~df.is_valid]
    trn[trn.label=='good'][['path']].to_csv(w/'good_train.csv', index=False)
    trn[(trn.label=='good') & (trn.type=='mono')][['path']].to_csv(w/'mono_good_train.csv', index=False)
    df[df.is_valid & (df.type=='poly')][['path']].to_csv(w/'poly_valid.csv', index=False)
    df[df.is_valid & (df.type=='mono') & (df.label=='good')][['path']].to_csv(w/'mono_good_valid.csv', index=False)
    if not (w/'lite0'/'model.json').is_file():
        sh('nexai-train', 'elpv', '--arch', 'lite0', '--size', 224, '--epochs', 1, '--freeze-epochs', 1, '--tta', 0, '--out', w/'lite0')
    sh('nexai-export', w/'lite0', '--onnx')
    for name,csv in (('padim', 'good_train.csv'), ('padim_mono', 'mono_good_train.csv')):
        if not (w/name/'model.json').is_file():
            sh('nexai-normality', 'fit', *pd.read_csv(w/csv).path, '--out', w/name, '--method', 'padim', '--size', 224)

def bench(w:Path):
    sh('nexai-bench', 'serve', w/'lite0', '--onnx', '--drift', 'elpv', '--out', w/'lite0_onnx.json', out=w/'lite0_onnx.txt')
    sh('nexai-bench', 'serve', w/'lite0', '--no-kill', '--out', w/'lite0_pt.json', out=w/'lite0_pt.txt')
    sh('nexai-bench', 'serve', w/'padim', '--drift', 'elpv', '--out', w/'padim.json', out=w/'padim.txt')
    sh('nexai-bench', 'serve', w/'padim_mono', '--n', 100, '--no-kill', '--drift-other', w/'poly_valid.csv', '--out', w/'padim_mono.json', out=w/'padim_mono.txt')

if __name__=='__main__':
    p = argparse.ArgumentParser(); p.add_argument('what', choices=['prep','bench']); p.add_argument('--work', default='/tmp/line')
    a = p.parse_args()
    (prep if a.what=='prep' else bench)(Path(a.work))
