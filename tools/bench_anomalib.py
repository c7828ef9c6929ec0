"""Benchmark anomalib 2.x (PaDiM, PatchCore, STFPM) on nexai's ELPV split, offline, on CPU.

anomalib is never a dependency of nexai: it lives in its own virtual environment,
outside the repository. This script runs in both environments:

1. Make anomalib's environment (pip only; nothing is downloaded at run time):

       python -m venv /work/venv-anomalib
       /work/venv-anomalib/bin/pip install torch==2.14.1 torchvision==0.29.1 anomalib

2. Once, in nexai's environment: write the split and the Lite0 weights.

       cd /work/main && python tools/bench_anomalib.py --prepare

   This writes /tmp/elpv_split.csv (fit: good cells of the training part; test: the
   656 cells of the published validation part) and /work/venv-anomalib/lite0.pth
   (the state_dict of `nexai.weights.create_backbone('lite0')`, real ImageNet weights).

3. For each model, in anomalib's environment:

       cd /work/main
       OMP_NUM_THREADS=2 HF_HUB_OFFLINE=1 /work/venv-anomalib/bin/python tools/bench_anomalib.py --model padim
       OMP_NUM_THREADS=2 HF_HUB_OFFLINE=1 /work/venv-anomalib/bin/python tools/bench_anomalib.py --model patchcore --coreset 0.001
       OMP_NUM_THREADS=2 HF_HUB_OFFLINE=1 /work/venv-anomalib/bin/python tools/bench_anomalib.py --model stfpm --epochs 1
       OMP_NUM_THREADS=2 HF_HUB_OFFLINE=1 /work/venv-anomalib/bin/python tools/bench_anomalib.py --model stfpm --epochs 2

   Each run appends its row to --out (nbs/anomalib_results.csv), replacing a row of the same method
   (the method name carries the coreset ratio or the epochs, so the STFPM runs keep a row each).
   PatchCore's default coreset ratio (0.1 of ~887k patches) would take about a day of
   k-center-greedy on 2 CPU cores; 0.001 keeps ~887 patches. Use --limit 64 for a smoke test.

The anomalib torch models are called directly (no Lightning Engine), so that nothing
downloads and the timings cover only image reading, features and fitting or scoring.
Timm's `create_model` is wrapped so that anomalib's pretrained backbone loads the local
weights file; the loaded tensors are compared with the file before anything is fitted.
Images are squished to 224x224, made RGB, and normalised with mean=std=0.5, as nexai does.
The image score is anomalib's raw `pred_score`; ROC AUC does not change under the
post-processor's monotone normalisation.
"""
import argparse, os, sys, time
from pathlib import Path

os.environ.setdefault('HF_HUB_OFFLINE', '1')
os.environ.setdefault('TQDM_DISABLE', '1')  # anomalib's coreset progress bar floods the log

SPLIT = '/tmp/elpv_split.csv'
WEIGHTS = '/work/venv-anomalib/lite0.pth'
BACKBONE = 'tf_efficientnet_lite0'
LAYERS = ['blocks.2', 'blocks.4']  # timm features_only out_indices 2 and 3: strides 8 and 16, 40 and 112 channels
SIZE = 224
STATS = (0.5, 0.5)  # Lite0's input normalisation, as in nexai
COLUMNS = ['method', 'roc_auc', 'roc_auc_mono', 'roc_auc_poly', 'fit_s', 'fit_ms_per_image', 'score_ms_per_image',
           'size', 'backbone', 'layers', 'anomalib_version', 'command', 'note']


def prepare(split, weights):
    "In nexai's environment: write the split CSV and the Lite0 state_dict"
    import torch, pandas as pd
    from nexai.data import from_elpv
    from nexai.weights import create_backbone
    df = from_elpv()
    fit = df[~df.is_valid & (df.prob == 0)].assign(set='fit')
    test = df[df.is_valid].assign(set='test')
    pd.concat([fit, test])[['path', 'label', 'prob', 'type', 'set']].to_csv(split, index=False)
    torch.save(create_backbone('lite0').state_dict(), weights)
    print(f'{split}: {len(fit)} fit, {len(test)} test ({(test.label == "defect").sum()} defects); {weights}')


def use_local_weights(weights):
    "Make timm load `weights` whenever a pretrained Lite0 is asked for"
    import timm
    create = timm.create_model
    def create_model(name, pretrained=False, **kw):
        if pretrained and name == BACKBONE: kw['pretrained_cfg_overlay'] = dict(file=weights)
        return create(name, pretrained=pretrained, **kw)
    timm.create_model = create_model


def check_weights(extractor, weights):
    "Fail unless every tensor of anomalib's pretrained backbone equals the one in `weights`"
    import torch
    saved = torch.load(weights, map_location='cpu')
    got = extractor.feature_extractor.state_dict()
    shared = [k for k in got if k in saved]
    bad = [k for k in shared if not torch.equal(got[k], saved[k])]
    if len(shared) < 0.9 * len(got) or bad: raise RuntimeError(f'backbone weights not loaded: {len(shared)}/{len(got)} keys found, {len(bad)} differ')
    return f'{len(shared)}/{len(got)} backbone tensors equal to {Path(weights).name}'


def load_batch(paths):
    "Images squished to SIZE, RGB, normalised with STATS"
    import torch
    import torchvision.transforms.functional as TF
    from PIL import Image
    xs = [TF.to_tensor(Image.open(p).convert('RGB').resize((SIZE, SIZE), Image.BILINEAR)) for p in paths]
    return TF.normalize(torch.stack(xs), [STATS[0]] * 3, [STATS[1]] * 3)


def batches(paths, bs):
    for i in range(0, len(paths), bs): yield load_batch(paths[i:i + bs])


def build(args):
    "The anomalib torch model, and a note on its settings"
    from anomalib.models.image.padim.torch_model import PadimModel
    from anomalib.models.image.patchcore.torch_model import PatchcoreModel
    from anomalib.models.image.stfpm.torch_model import STFPMModel
    if args.model == 'padim': return PadimModel(backbone=BACKBONE, layers=LAYERS, n_features=args.n_features), f'n_features={args.n_features} random channels of 152'
    if args.model == 'patchcore': return PatchcoreModel(backbone=BACKBONE, layers=LAYERS, num_neighbors=9), f'coreset_sampling_ratio={args.coreset}, num_neighbors=9'
    return STFPMModel(backbone=BACKBONE, layers=LAYERS), f'{args.epochs} epoch(s), SGD lr=0.4 momentum=0.9 wd=1e-3 (anomalib defaults), bs={args.bs}, no early stopping'


def fit_memory(model, paths, args):
    "PaDiM and PatchCore: collect embeddings of the good cells, then fit"
    import torch
    model.train()
    with torch.no_grad():
        for x in batches(paths, args.bs): model(x)
    if args.model == 'padim': model.fit()
    else: model.subsample_embedding(args.coreset)


def fit_stfpm(model, paths, args):
    "STFPM: train the student for a fixed number of epochs (anomalib's optimiser and loss)"
    import torch
    from anomalib.models.image.stfpm.loss import STFPMLoss
    opt = torch.optim.SGD(model.student_model.parameters(), lr=0.4, momentum=0.9, dampening=0.0, weight_decay=0.001)
    loss_fn = STFPMLoss()
    g = torch.Generator().manual_seed(args.seed)
    model.train()
    for epoch in range(args.epochs):
        order = [paths[i] for i in torch.randperm(len(paths), generator=g)]
        total, t = 0.0, time.time()
        for x in batches(order, args.bs):
            loss = loss_fn(*model(x))
            opt.zero_grad()
            loss.backward()
            opt.step()
            total += loss.item() * len(x)
        print(f'epoch {epoch + 1}/{args.epochs}: loss {total / len(paths):.4f}, {time.time() - t:.0f} s', flush=True)


def score(model, paths, args):
    "anomalib's image anomaly score (`pred_score`) of each path"
    import torch
    model.eval()
    with torch.no_grad(): return torch.cat([model(x).pred_score.flatten() for x in batches(paths, args.bs)]).numpy()


def load_avg():
    return os.getloadavg()[0]


def reference_ms(n=64, bs=32):
    "ms per image of a plain Lite0 forward pass now: a yardstick for how loaded the CPU was"
    import timm, torch
    m = timm.create_model(BACKBONE, pretrained=False).eval()
    x = torch.randn(bs, 3, SIZE, SIZE)
    with torch.no_grad():
        m(x[:2])
        t = time.time()
        for _ in range(n // bs): m(x)
    return 1000 * (time.time() - t) / n


def method_name(args):
    "The row's key: the model and the setting that was cut to fit the CPU"
    if args.model == 'patchcore': return f'anomalib patchcore, coreset {args.coreset}'
    if args.model == 'stfpm': return f'anomalib stfpm, {args.epochs} epoch{"s" if args.epochs > 1 else ""}'
    return 'anomalib padim'


def write_row(row, out):
    "Append `row` to `out`, replacing a row of the same method"
    import pandas as pd
    old = pd.read_csv(out) if Path(out).exists() else pd.DataFrame(columns=COLUMNS)
    old = old[old.method != row['method']]
    pd.concat([old, pd.DataFrame([row])], ignore_index=True)[COLUMNS].to_csv(out, index=False)


def run(args):
    import torch, anomalib, pandas as pd
    from sklearn.metrics import roc_auc_score
    torch.manual_seed(args.seed)
    use_local_weights(args.weights)
    df = pd.read_csv(args.split)
    fit_df, test_df = df[df.set == 'fit'], df[df.set == 'test']
    if args.limit: fit_df, test_df = fit_df.head(args.limit), test_df.groupby('label').head(args.limit // 2)
    load_before = load_avg()
    model, note = build(args)
    extractor = model.teacher_model if args.model == 'stfpm' else model.feature_extractor
    checked = check_weights(extractor, args.weights)
    print(checked, flush=True)
    t = time.time()
    (fit_stfpm if args.model == 'stfpm' else fit_memory)(model, list(fit_df.path), args)
    fit_s = time.time() - t
    t = time.time()
    scores = score(model, list(test_df.path), args)
    score_s = time.time() - t
    y = (test_df.label == 'defect').to_numpy()
    auc = lambda m: roc_auc_score(y[m], scores[m])
    mono, poly = (test_df.type == 'mono').to_numpy(), (test_df.type == 'poly').to_numpy()
    cmd = f'OMP_NUM_THREADS={os.environ.get("OMP_NUM_THREADS", "")} HF_HUB_OFFLINE=1 /work/venv-anomalib/bin/python ' + ' '.join(['tools/bench_anomalib.py', *sys.argv[1:]])
    ref = reference_ms()
    row = dict(method=method_name(args), roc_auc=auc(slice(None)), roc_auc_mono=auc(mono), roc_auc_poly=auc(poly),
               fit_s=fit_s, fit_ms_per_image=1000 * fit_s / len(fit_df), score_ms_per_image=1000 * score_s / len(test_df),
               size=SIZE, backbone=f'{BACKBONE} (nexai lite0 ImageNet weights)', layers='+'.join(LAYERS) + ' (out_indices 2,3)',
               anomalib_version=anomalib.__version__, command=cmd,
               note=f'{note}; {len(fit_df)} fit / {len(test_df)} test cells; mean=std=0.5; {checked}; CPU, {torch.get_num_threads()} threads, load avg {load_before:.1f} -> {load_avg():.1f}, plain Lite0 forward then {ref:.0f} ms/image')
    print(row, flush=True)
    if args.limit: print('--limit given: row not written')
    else: write_row(row, args.out)


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument('--prepare', action='store_true', help="in nexai's environment: write --split and --weights, then stop")
    p.add_argument('--model', choices=['padim', 'patchcore', 'stfpm'], default='padim')
    p.add_argument('--out', default='nbs/anomalib_results.csv', help='results CSV; the row of the same method is replaced')
    p.add_argument('--split', default=SPLIT, help='CSV with path, label, prob, type, set (fit or test)')
    p.add_argument('--weights', default=WEIGHTS, help='state_dict of timm tf_efficientnet_lite0')
    p.add_argument('--bs', type=int, default=32, help='batch size')
    p.add_argument('--n-features', type=int, default=100, help='padim: random channels kept')
    p.add_argument('--coreset', type=float, default=0.1, help='patchcore: coreset sampling ratio')
    p.add_argument('--epochs', type=int, default=1, help='stfpm: training epochs')
    p.add_argument('--seed', type=int, default=0)
    p.add_argument('--limit', type=int, default=0, help='smoke test on this many fit and test cells; writes no row')
    args = p.parse_args()
    if args.prepare: prepare(args.split, args.weights)
    else: run(args)


if __name__ == '__main__': main()
