"""Issue 40's levers on frozen Lite features, on ELPV's published split, by the honest protocol: resolution, tiles as features, fine features for the model of normality, fused

    python tools/subtle_elpv.py extract --size 448 [--arch lite0] [--out /tmp/subtle]   # one pass over the 2,624 cells: cached .npy
    python tools/subtle_elpv.py cost --sizes 224,300,384,448                               # seconds a fine-tuning epoch would take, estimated
    python tools/subtle_elpv.py measure [--out /tmp/subtle]                                 # every lever, from the caches: a table and nbs/subtle_elpv.csv

`extract` runs the backbone once per cell at `--size` (squished, upsampled above the native 300 px) as far as `bn2` and keeps, at each of the
eight stages (blocks.0 … blocks.6, bn2): the global average and maximum (the probe's 'fine, avgmax' features); the same per region of a 2×2
and a 3×3 grid of the feature maps ("tiles as features": each region is a tile of the cell, seen with its surroundings in one pass, not cut
out and run alone); and, for the model of normality, blocks.1–blocks.3 averaged onto a 28×28 grid of positions (float16).

`measure` reads the caches and fits, on the 1,968 training cells only: the probe (standardised logistic regression, balanced classes) with `C`
chosen by 5-fold out-of-fold ROC AUC on the training part, its threshold (best F1) and its "2 % scrap" threshold (the 98th percentile of the
out-of-fold good scores) from the same out-of-fold scores; the validation cells choose nothing. Each row gives, on the 656 validation cells:
accuracy at the honest threshold, ROC AUC, the share of defects caught at the honest 2 % threshold and at the validation-oracle one (the
98th percentile of the validation good cells' scores, as the old rows were measured), and how many of today's 68 escapes (issue 40) the
oracle threshold catches.

`fine-fused [MODEL_DIR ...] --method padim|patchcore` reads the 448 px fine grid and fits the fine model of normality per cell type
(PatchCore on a 1 % greedy coreset), by the same protocol: alone; beside the cached best probe (`measure` keeps its scores); and, given
`nexai-train elpv` runs on one split and hold-out, beside their mean: fitted on the training good cells outside their hold-out, with the
combiner (`fit_combiner`) and its F1 and 2 % thresholds on that hold-out, so the validation cells choose nothing.

`curve` runs `nexai.bench.label_curve` on ELPV with the label-free route, the probe and the fused probe (the probe as the fused model's classifier, `train_fused(probe=...)`; 3 draws of 0, 5, 10, 20, 50, 100, 200 and all
defects) and copies its CSV and PNG to nbs/label_curve_elpv.*.

Measured on 2 CPU cores shared with four other engineers' jobs (load 5 to 17), every job under `nice -n 10`, so the times are distorted:
`extract --size 448` 1,725 s (0.657 s an image; 0.13–0.15 s in its first, quieter minutes); `measure --sizes 224,300,448 --tile-sizes 448
--normality-sizes 448 --mil r2` 32 min (224 and 300 px read from tools/probe_fine.py's caches); `extract --size 384` 524 s (0.200 s an image), then
`measure --sizes 384 --tile-sizes '' --normality-sizes '' --mil '' --csv /tmp/subtle/m384.csv` (its 384 px row merged in); `curve` 357 s.
`fine-fused /work/runs/honest300 /work/runs/honest384 /work/runs/honest448 --method patchcore`, alone on the machine: 306 s for the fits and
scores of the first two rows (93 s mono, 213 s poly), 274 s for the hold-out one; `--method padim` about 40 s each.
The figures: nbs/subtle_elpv.csv.
"""
import argparse, time, warnings, json, sys
import numpy as np, pandas as pd
from pathlib import Path
import torch, torch.nn.functional as F
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # nexai from this tree

LEVELS = ['blocks.0','blocks.1','blocks.2','blocks.3','blocks.4','blocks.5','blocks.6','bn2']
FINE = ['blocks.1','blocks.2','blocks.3']  # per position, for the model of normality
GRID = 28

def cache_dir(out, arch, size): return Path(out)/f'{arch}_{size}'

def extract(a):
    "One pass of the backbone over every ELPV cell at `a.size`: global, 2×2, 3×3 avg+max per stage, and the fine per-position grid, as .npy"
    from nexai.data import from_elpv, normalize
    from nexai.store import image_items
    from nexai.weights import create_backbone, backbone_stats, find_weights, weights_sha256
    from nexai.normality.features import Trunk
    torch.set_num_threads(2)
    d = cache_dir(a.out, a.arch, a.size); d.mkdir(parents=True, exist_ok=True)
    df = from_elpv(); paths = df.path.tolist()
    model = create_backbone(a.arch, sha256=weights_sha256(find_weights(a.arch))).eval().to(memory_format=torch.channels_last)
    trunk,stats = Trunk(model, LEVELS),backbone_stats(a.arch)
    dl = torch.utils.data.DataLoader(image_items(paths, a.size), batch_size=16)
    res = {k:[] for k in ('g','r2','r3','p')}; t0 = time.time(); n = 0
    with torch.no_grad():
        for x,err in dl:
            if any(err): raise ValueError(f"unreadable: {[e for e in err if e][:1]}")
            outs = trunk(normalize(x, stats).contiguous(memory_format=torch.channels_last))
            outs = [h.float().contiguous() for h in outs]
            res['g'].append(torch.cat([torch.cat([h.mean((2,3)), h.amax((2,3))], 1) for h in outs], 1).numpy())
            for k,g in (('r2',2),('r3',3)):
                res[k].append(torch.cat([torch.cat([F.adaptive_avg_pool2d(h, g), F.adaptive_max_pool2d(h, g)], 1).flatten(2).transpose(1,2) for h in outs], 2).numpy())
            res['p'].append(torch.cat([F.adaptive_avg_pool2d(h, GRID) for l,h in zip(LEVELS, outs) if l in FINE], 1).flatten(2).transpose(1,2).half().numpy())
            n += len(x)
            if n % 320 == 0: print(f"{n}/{len(paths)} {time.time()-t0:.0f} s", flush=True)
    secs = time.time()-t0
    for k,v in res.items(): np.save(d/f'{k}.npy', np.concatenate(v))
    dims = [int(h.shape[1]) for h in outs]
    (d/'info.json').write_text(json.dumps(dict(arch=a.arch, size=a.size, levels=LEVELS, dims=dims, fine=FINE, grid=GRID, n=len(paths), seconds=secs,
                                               s_per_image=secs/len(paths), names=[Path(p).name for p in paths]), indent=1))
    print(f"{a.arch} {a.size} px: {len(paths)} cells in {secs:.0f} s ({secs/len(paths):.3f} s an image)", flush=True)


# ---- measure: the honest protocol, on the caches ----
CS = (0.001, 0.01, 0.1)

def _lr(c):
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler
    return make_pipeline(StandardScaler(), LogisticRegression(C=c, max_iter=3000, class_weight='balanced'))

def oof_fit(X, y, groups=None, Cs=CS, folds=5, seed=0):
    "Out-of-fold scores of the training rows for each C (folds by `groups` where rows share a cell), the C with the best OOF ROC AUC, and the fit on all rows"
    from sklearn.model_selection import StratifiedKFold, StratifiedGroupKFold
    from sklearn.metrics import roc_auc_score
    cv = StratifiedGroupKFold(folds, shuffle=True, random_state=seed) if groups is not None else StratifiedKFold(folds, shuffle=True, random_state=seed)
    splits = list(cv.split(X, y, groups))
    oof = {}
    for c in Cs:
        s = np.zeros(len(y))
        for a,b in splits: s[b] = _lr(c).fit(X[a], y[a]).predict_proba(X[b])[:,1]
        oof[c] = s
    return oof, splits

def honest_figures(oof_tr, y_tr, p_va, y_va, esc):
    "The validation figures at thresholds the training part chose (F1 and 2 % scrap, from out-of-fold scores), and at the validation-oracle 2 % threshold"
    from nexai.threshold import pick_threshold, metrics_at, recall_at_fpr
    from sklearn.metrics import roc_auc_score
    thr = pick_threshold(y_tr, oof_tr, 'f1')['threshold']
    t02 = np.quantile(oof_tr[y_tr==0], .98, method='higher')
    o02 = np.quantile(p_va[y_va==0], .98, method='higher')
    return dict(accuracy=metrics_at(y_va, p_va, thr)['accuracy'], roc_auc=roc_auc_score(y_va, p_va),
                caught_2pct=float((p_va[y_va==1] > t02).mean()), scrap_at_honest_2pct=float((p_va[y_va==0] > t02).mean()),
                caught_2pct_oracle=recall_at_fpr(y_va, p_va, (0.02,))['0.02'],
                escapes_honest=int((p_va[esc] > t02).sum()), escapes_oracle=int((p_va[esc] > o02).sum()))

def probe_row(X, y, trn, esc, Cs=CS, seed=0):
    "The probe on cell features `X`, C and thresholds chosen on the training part's out-of-fold scores: its figures and its scores"
    from sklearn.metrics import roc_auc_score
    t = time.time()
    oof,_ = oof_fit(X[trn], y[trn], Cs=Cs, seed=seed)
    auc = {c:roc_auc_score(y[trn], s) for c,s in oof.items()}; c = max(Cs, key=lambda c: auc[c])
    p = _lr(c).fit(X[trn], y[trn]).predict_proba(X[~trn])[:,1]
    r = dict(C=c, oof_auc=auc[c], n_features=X.shape[1], fit_s=time.time()-t, **honest_figures(oof[c], y[trn], p, y[~trn], esc))
    return r, dict(oof=oof[c], valid=p)

def mil_rows(T, y, trn, esc, Cs=(0.001, 0.01), seed=0):
    "Multiple-instance: every tile of a cell carries the cell's label; the cell's score is the max or the mean of its tiles' scores (folds keep a cell's tiles together)"
    from sklearn.metrics import roc_auc_score
    t = time.time(); n,k,f = T.shape
    Xt,yt,gt = T[trn].reshape(-1, f),np.repeat(y[trn], k),np.repeat(np.arange(trn.sum()), k)
    oof,_ = oof_fit(Xt, yt, gt, Cs=Cs, folds=3, seed=seed)  # 3 folds, 2 values of C: four times the rows of a cell probe, on shared cores
    pools = dict(max=lambda s: s.reshape(-1, k).max(1), mean=lambda s: s.reshape(-1, k).mean(1))
    res = {}
    for pn,pool in pools.items():
        auc = {c:roc_auc_score(y[trn], pool(s)) for c,s in oof.items()}; c = max(Cs, key=lambda c: auc[c])
        res[pn] = (c, auc[c])
    fits = {c:_lr(c).fit(Xt, yt) for c in {c for c,_ in res.values()}}
    out = {}
    for pn,(c,a) in res.items():
        p = pools[pn](fits[c].predict_proba(T[~trn].reshape(-1, f))[:,1])
        out[pn] = (dict(C=c, oof_auc=a, n_features=f, fit_s=time.time()-t, **honest_figures(pools[pn](oof[c]), y[trn], p, y[~trn], esc)), dict(oof=pools[pn](oof[c]), valid=p))
    return out

def escapes(names, valid):
    "Today's 68 escapes (issue 40): the defects of nbs/elpv_valid_scores.csv at or below the 98th percentile of the good cells' p_defect_tta"
    s = pd.read_csv(Path(__file__).parent.parent/'nbs'/'elpv_valid_scores.csv')
    thr = np.percentile(s.p_defect_tta[s.label=='good'], 98)
    bad = set(s.name[(s.label=='defect') & (s.p_defect_tta <= thr)])
    return np.array([n in bad for n in np.asarray(names)[valid]])

def cell_features(out, arch, size):
    "The global avg+max features of all eight stages (2,624 × 4,128), from this tool's cache or tools/probe_fine.py's"
    d = cache_dir(out, arch, size)
    if (d/'g.npy').is_file(): return np.load(d/'g.npy'), json.loads((d/'info.json').read_text())['s_per_image']
    z = np.load(f'/tmp/probe_fine/features_{size}.npz')
    return np.concatenate([z[f'f_{i}'] for i in range(len(LEVELS))], 1), None


def padim_scores(P, fit, types, held_good, settings=dict(seed=0, dims=120, top=10), method='padim', need=None):
    "PaDiM or PatchCore (nexai.normality's heads) on per-position features `P`, one per cell type, fitted on the cells `fit`; each type's scores z-scored by its held-out good cells; only the cells `need` scored (None: all)"
    from nexai.normality.model import head_scores
    from nexai.normality.padim import Padim
    from nexai.normality.patchcore import Patchcore
    cls = dict(padim=Padim, patchcore=Patchcore)[method]
    s,need = np.zeros(len(P)),np.ones(len(P), bool) if need is None else need|held_good
    for ty in sorted(set(types)):
        m = types==ty; t = time.time()
        st = cls.fit_state({'fine': np.asarray(P[fit & m], dtype=np.float32)}, settings)
        h,idx = cls(st, ['fine'], settings),np.flatnonzero(m & need)
        s[idx] = np.concatenate([head_scores(h, [np.asarray(P[idx[i:i+64]], dtype=np.float32)]) for i in range(0, len(idx), 64)])
        g = s[held_good & m]; s[m] = (s[m]-g.mean())/g.std()
        print(f"  fine {method}, {ty} cells: fitted on {int((fit & m).sum())}, {len(idx)} scored, {time.time()-t:.0f} s", flush=True)
    return s

FINE_SETTINGS = dict(padim=dict(seed=0, dims=120, top=10), patchcore=dict(seed=0, coreset=0.01, coreset_method='greedy'))  # PatchCore: a 1 % coreset (greedy k-centre)

def normality_rows(P, y, trn, types, esc, seed=42, method='padim', settings=None):
    "Fine PaDiM alone: fitted on 75 % of the training part's good cells, its 2 % threshold from the other 25 % (which, with every training defect, the combiner learns on)"
    from nexai.train import combiner_part
    from nexai.threshold import recall_at_fpr
    from sklearn.metrics import roc_auc_score
    t = time.time()
    tr_idx = np.flatnonzero(trn)
    ho = np.zeros(len(y), bool); ho[tr_idx] = combiner_part(pd.DataFrame(dict(path=tr_idx.astype(str), label=np.where(y[trn]==1, 'defect', 'good'))), .25, seed)
    fit,held_good = trn & ~ho & (y==0),trn & ho & (y==0)
    s = padim_scores(P, fit, types, held_good, settings or FINE_SETTINGS[method], method)
    t02 = np.quantile(s[held_good], .98, method='higher'); vs,vy = s[~trn],y[~trn]
    o02 = np.quantile(vs[vy==0], .98, method='higher')
    r = dict(C=np.nan, oof_auc=np.nan, n_features=P.shape[2], fit_s=time.time()-t, accuracy=np.nan, roc_auc=roc_auc_score(vy, vs),
             caught_2pct=float((vs[vy==1] > t02).mean()), scrap_at_honest_2pct=float((vs[vy==0] > t02).mean()), caught_2pct_oracle=recall_at_fpr(vy, vs, (0.02,))['0.02'],
             escapes_honest=int((vs[esc] > t02).sum()), escapes_oracle=int((vs[esc] > o02).sum()))
    comb = trn & (y==1) | held_good  # parts neither the probe's out-of-fold scores nor PaDiM saw
    return r, s, comb

def fused_row(p_tr, p_va, s, comb, y, trn, types, esc):
    "Today's combiner (nexai.train.fit_combiner: logistic regression on logit(p), the normality score, the type where it lifts CV ROC AUC) on training cells; figures on the validation cells"
    from nexai.train import fit_combiner
    from nexai.fused import FusedModel
    ptr = np.full(len(y), np.nan); ptr[trn] = p_tr
    c,thr,f = fit_combiner(ptr[comb], s[comb], list(types[comb]), y[comb], 'f1')
    fv = FusedModel(None, None, dict(combiner=c)).combine(p_va, s[~trn], list(types[~trn]))
    from nexai.threshold import metrics_at, recall_at_fpr
    from sklearn.metrics import roc_auc_score
    yc,vy = y[comb],y[~trn]
    t02,o02 = np.quantile(f[yc==0], .98, method='higher'),np.quantile(fv[vy==0], .98, method='higher')
    return dict(C=np.nan, oof_auc=np.nan, n_features=len(c['coef']), fit_s=np.nan, accuracy=metrics_at(vy, fv, thr)['accuracy'], roc_auc=roc_auc_score(vy, fv),
                caught_2pct=float((fv[vy==1] > t02).mean()), scrap_at_honest_2pct=float((fv[vy==0] > t02).mean()), caught_2pct_oracle=recall_at_fpr(vy, fv, (0.02,))['0.02'],
                escapes_honest=int((fv[esc] > t02).sum()), escapes_oracle=int((fv[esc] > o02).sum()), group_kept=len(c.get('groups') or []) > 1), fv

def crossfit_valid(p, s, types, y, esc, folds=5, seed=0):
    "Today's combiner on validation scores alone (the committed files hold no training-part scores): each cell scored by a combiner fitted on the other folds"
    from nexai.train import fit_combiner
    from nexai.fused import FusedModel
    from nexai.threshold import recall_at_fpr
    from sklearn.model_selection import StratifiedKFold
    from sklearn.metrics import roc_auc_score
    f = np.zeros(len(y))
    for a,b in StratifiedKFold(folds, shuffle=True, random_state=seed).split(p, y):
        c,_,_ = fit_combiner(p[a], s[a], list(types[a]), y[a], 'f1')
        f[b] = FusedModel(None, None, dict(combiner=c)).combine(p[b], s[b], list(types[b]))
    o02 = np.quantile(f[y==0], .98, method='higher')
    return dict(roc_auc=roc_auc_score(y, f), caught_2pct_oracle=recall_at_fpr(y, f, (0.02,))['0.02'], escapes_oracle=int((f[esc] > o02).sum())), f

def measure(a):
    "Every lever from the caches, by the honest protocol: a row each, printed and written to `--csv`"
    from nexai.data import from_elpv
    df = from_elpv(); names = np.array([Path(p).name for p in df.path])
    y,trn,types = (df.label=='defect').astype(int).values,~df.is_valid.values,df.type.astype(str).values
    esc = escapes(names, ~trn); rows,keep = [],{}
    print(f"ELPV: {trn.sum()} training cells, {(~trn).sum()} validation cells ({y[~trn].sum()} defects, {esc.sum()} of them today's escapes)", flush=True)
    sd = Path(a.out)/'scores'; sd.mkdir(parents=True, exist_ok=True)
    def add(lever, setting, size, r, sc=None, s_img=None, arch=a.arch):
        rows.append(dict(lever=lever, setting=setting, arch=arch, size=size, s_per_image_features=s_img, **r))
        if sc is not None: keep[(lever, setting, size)] = sc; np.savez(sd/f"{lever}_{setting}_{size}".replace(' ', '_').replace('/', '_').replace(',', ''), **sc)
        print(' | '.join(f"{k} {v:.3f}" if isinstance(v, float) else f"{k} {v}" for k,v in rows[-1].items()), flush=True)
        pd.DataFrame(rows).to_csv(a.csv, index=False)
    G = {}
    for size in a.sizes:
        try: G[size],spi = cell_features(a.out, a.arch, size)
        except FileNotFoundError: print(f"{size} px: no cache, skipped"); continue
        r,sc = probe_row(G[size], y, trn, esc); add('resolution', 'probe, fine avg+max', size, r, sc, spi)
    for size in a.tile_sizes:
        d = cache_dir(a.out, a.arch, size)
        for g,name in (('r2','2×2'), ('r3','3×3')):
            if not (d/f'{g}.npy').is_file() or size not in G: continue
            R = np.load(d/f'{g}.npy')
            r,sc = probe_row(np.concatenate([G[size], R.max(1)], 1), y, trn, esc); add('tiles', f'probe, global + max over {name} tile features', size, r, sc)
            if g in a.mil:
                for pn,(r,sc) in mil_rows(R, y, trn, esc).items(): add('tiles', f'MIL, {pn} of {name} tile scores', size, r, sc)
            del R
    probes = [r for r in rows if r['lever'] in ('resolution','tiles')]
    best = max(probes, key=lambda r: r['oof_auc']); bsc = keep[(best['lever'], best['setting'], best['size'])]
    print(f"the training part's out-of-fold ROC AUC picks: {best['setting']} at {best['size']} px ({best['oof_auc']:.3f})", flush=True)
    clf = pd.read_csv(Path(__file__).parent.parent/'nbs'/'elpv_valid_scores.csv').set_index('name').loc[names[~trn]]
    for size in a.normality_sizes:
        d = cache_dir(a.out, a.arch, size)
        if not (d/'p.npy').is_file(): continue
        r,s,comb = normality_rows(np.load(d/'p.npy'), y, trn, types, esc); add('normality', 'fine PaDiM (blocks.1-3, 28×28), per type', size, r, dict(score=s))
        r,fv = fused_row(bsc['oof'], bsc['valid'], s, comb, y, trn, types, esc)
        add('fused', f"best probe ({best['setting']}, {best['size']} px) + fine PaDiM {size} px", size, r, dict(valid=fv))
        r,fv = crossfit_valid(clf.p_defect_tta.values, s[~trn], types[~trn], y[~trn], esc)
        add('fused', f"classifier (TTA, committed) + fine PaDiM {size} px, combiner cross-fitted on validation", size, r, dict(valid=fv), arch=None)
    fz = pd.read_csv(Path(__file__).parent.parent/'nbs'/'normality_valid_scores.csv').set_index('name').loc[names[~trn]]
    r,fv = crossfit_valid(clf.p_defect_tta.values, fz.padim.values, types[~trn], y[~trn], esc)
    add('fused (README row re-measured)', 'classifier (TTA, committed) + PaDiM 224 px (committed), combiner cross-fitted on validation', None, r, dict(valid=fv), arch=None)
    from sklearn.metrics import roc_auc_score
    from nexai.threshold import recall_at_fpr
    from scipy.stats import rankdata
    v,vy = (rankdata(clf.p_defect_tta.values)+rankdata(fz.padim.values))/2,y[~trn]; o02 = np.quantile(v[vy==0], .98, method='higher')
    add('fused (README row re-measured)', 'rank average of the two committed scores (no fitting)', None, arch=None, r=
        dict(roc_auc=roc_auc_score(vy, v), caught_2pct_oracle=recall_at_fpr(vy, v, (0.02,))['0.02'], escapes_oracle=int((v[esc] > o02).sum())))
    for col in ('p_defect_tta','p_defect'):
        v,vy = clf[col].values,y[~trn]; o02 = np.quantile(v[vy==0], .98, method='higher')
        add('baseline (committed)', f'classifier {col}', None, arch=None, r=dict(roc_auc=roc_auc_score(vy, v), caught_2pct_oracle=recall_at_fpr(vy, v, (0.02,))['0.02'], escapes_oracle=int((v[esc] > o02).sum())))
    v,vy = fz.padim.values,y[~trn]; o02 = np.quantile(v[vy==0], .98, method='higher')
    add('baseline (committed)', 'PaDiM 224 px', 224, arch=None, r=dict(roc_auc=roc_auc_score(vy, v), caught_2pct_oracle=recall_at_fpr(vy, v, (0.02,))['0.02'], escapes_oracle=int((v[esc] > o02).sum())))

def cost(a):
    "Seconds of one fine-tuning epoch on the 1,968 training cells, estimated from a few timed forward+backward batches (not a measured epoch)"
    from nexai.weights import create_backbone
    torch.set_num_threads(2)
    for arch in a.archs.split(','):
        m = create_backbone(arch).train().to(memory_format=torch.channels_last)
        for size in map(int, a.sizes.split(',')):
            x = torch.randn(a.bs, 3, size, size).contiguous(memory_format=torch.channels_last); ts = []
            for i in range(a.batches+1):
                t = time.perf_counter(); m.zero_grad()
                with torch.autocast('cpu', dtype=torch.bfloat16, enabled=a.bf16): y = m(x)
                y.float().mean().backward(); ts.append(time.perf_counter()-t)
            spi = np.median(ts[1:])/a.bs
            print(f"{arch} {size} px{' bf16' if a.bf16 else ''}: forward+backward {spi:.3f} s an image (median of {a.batches} batches of {a.bs}, the first dropped) -> "
                  f"an epoch of 1,968 cells about {spi*1968/60:.1f} min (estimate: the network alone, no data loading, no validation)", flush=True)

def curve(a):
    "The label curve on ELPV (label-free PaDiM, the probe, and the probe fused with PaDiM), its probe features seeded from a cache of the same features where one exists; CSV and PNG copied to nbs/"
    import hashlib, shutil
    from nexai.bench import label_curve, PROBE
    from nexai.train import read_data
    from nexai.data import split
    from nexai.probe import probe_levels
    from nexai.weights import find_weights, weights_sha256
    out = Path(a.out)/'label_curve'; out.mkdir(parents=True, exist_ok=True)
    df = split(read_data('elpv'), 0.2, 42); every = pd.concat([df[~df.is_valid], df[df.is_valid]]).path.tolist()
    lv,sha = probe_levels('lite0', 'fine'),weights_sha256(find_weights('lite0'))
    key = hashlib.sha1(json.dumps([every, 'lite0', 'None', 224, lv, 'avgmax', sha]).encode()).hexdigest()  # as extract_features keys its cache
    src = Path('/tmp/probe_fine/features_224.npz')
    if lv==LEVELS and src.is_file() and not (out/'probe_features.npz').is_file():  # the same backbone, size, levels and pooling, extracted by tools/probe_fine.py
        from nexai.data import from_elpv
        z,order = np.load(src),{p:i for i,p in enumerate(from_elpv(check=False).path)}
        idx = [order[p] for p in every]
        np.savez(out/'probe_features.npz', key=np.array(key), **{f'f_{i}':z[f'f_{i}'][idx] for i in range(len(lv))})
        print(f"probe features seeded from {src}", flush=True)
    t = time.time()
    res = label_curve('elpv', out, counts=(0,5,10,20,50,100,200,None), draws=3, routes=('normality','probe','fused probe'))
    print(res.groupby(['n_defects','route'])[['roc_auc','caught_2pct']].agg(['mean','min','max']).round(3).to_string())
    print(f"{time.time()-t:.0f} s")
    for ext in ('csv','png'): shutil.copy(out/f'label_curve.{ext}', Path(__file__).parent.parent/'nbs'/f'label_curve_elpv.{ext}')

def fine_fused(a):
    "A fine model of normality (blocks.1-3 at 28×28, per type) alone; fused with the cached best probe; and fused with fine-tuned runs on their own hold-out"
    from nexai.data import from_elpv
    from nexai.train import fit_combiner, training_items, stratified_part, _parts
    from nexai.fused import FusedModel
    from nexai.threshold import metrics_at, recall_at_fpr, pick_threshold
    from sklearn.metrics import roc_auc_score
    from honest_elpv import _holdout_scores
    import tempfile
    df = from_elpv(); paths = df.path.values; names = np.array([Path(p).name for p in paths])
    y,trn,types = (df.label=='defect').astype(int).values,~df.is_valid.values,df.type.astype(str).values
    esc,va = escapes(names, ~trn),~trn
    P = np.load(cache_dir(a.out, a.arch, a.size)/'p.npy', mmap_mode='r')
    st,rows = dict(FINE_SETTINGS[a.method], **({'coreset': a.coreset} if a.method=='patchcore' else {})),[]
    what = f"fine {'PaDiM' if a.method=='padim' else 'PatchCore'} (blocks.1-3, 28×28{f', coreset {a.coreset:g}' if a.method=='patchcore' else ''}), per type"
    def add(lever, setting, r, arch=a.arch):
        rows.append(dict(lever=lever, setting=setting, arch=arch, size=a.size, **r)); print(' | '.join(f"{k} {v:.4f}" if isinstance(v, float) else f"{k} {v}" for k,v in rows[-1].items()), flush=True)
    # 1. alone, and 2. beside the best probe: fitted on 75 % of the training part's good cells; the rest and every training defect for the combiner
    r,s,comb = normality_rows(P, y, trn, types, esc, method=a.method, settings=st); add('normality', what, r)
    pf = Path(a.out)/'scores'/'resolution_probe_fine_avg+max_300.npz'
    if pf.is_file():
        b = np.load(pf); r,_ = fused_row(b['oof'], b['valid'], s, comb, y, trn, types, esc)
        add('fused', f"best probe (probe, fine avg+max, 300 px) + {what}", r)
    # 3. beside fine-tuned runs (one split, one hold-out): fitted on the training good cells outside their hold-out; combiner and thresholds on the hold-out
    if a.models:
        outs = [Path(o) for o in a.models]
        with tempfile.TemporaryDirectory() as d: items = training_items('elpv', d, soft='prob')
        tr,_ = _parts(items); hod = tr[stratified_part(tr, 0.2, 42)].sort_values('path').reset_index(drop=True)
        hos = [_holdout_scores(o, hod, 8).set_index('path') for o in outs]
        vps = [pd.read_csv(o/'valid_preds.csv').set_index('path') for o in outs]
        ho = np.isin(paths, hod.path)
        p = np.full(len(y), np.nan)
        p[ho] = np.mean([h.loc[paths[ho], a.col].values for h in hos], 0); p[va] = np.mean([v.loc[paths[va], a.col].values for v in vps], 0)
        s = padim_scores(P, trn & ~ho & (y==0), types, ho & (y==0), st, a.method, need=ho | va)
        c,thr,fh = fit_combiner(p[ho], s[ho], list(types[ho]), y[ho], 'f1')
        fv = FusedModel(None, None, dict(combiner=c)).combine(p[va], s[va], list(types[va]))
        for name,h_,v_,th in ((f"mean of {' + '.join(o.name for o in outs)} ({a.col})", p[ho], p[va], pick_threshold(y[ho], p[ho], 'f1')['threshold']),
                              (f"mean of {' + '.join(o.name for o in outs)} ({a.col}) + {what}, combiner and thresholds on the runs' hold-out ({int(ho.sum())} cells), honest", fh, fv, thr)):
            yh,yv = y[ho],y[va]; t02,o02 = np.quantile(h_[yh==0], .98, method='higher'),np.quantile(v_[yv==0], .98, method='higher')
            add('fused' if 'combiner' in name else 'fine-tuned', name, dict(accuracy=metrics_at(yv, v_, th)['accuracy'], roc_auc=roc_auc_score(yv, v_),
                caught_2pct=float((v_[yv==1] > t02).mean()), scrap_at_honest_2pct=float((v_[yv==0] > t02).mean()), caught_2pct_oracle=recall_at_fpr(yv, v_, (0.02,))['0.02'],
                escapes_honest=int((v_[esc] > t02).sum()), escapes_oracle=int((v_[esc] > o02).sum())), arch=None)
    if a.csv: pd.concat([pd.read_csv(a.csv), pd.DataFrame(rows)], ignore_index=True).to_csv(a.csv, index=False)

def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0]); sp = ap.add_subparsers(dest='cmd', required=True)
    e = sp.add_parser('extract'); e.add_argument('--size', type=int, required=True); e.add_argument('--arch', default='lite0'); e.add_argument('--out', default='/tmp/subtle')
    m = sp.add_parser('measure'); m.add_argument('--out', default='/tmp/subtle'); m.add_argument('--arch', default='lite0')
    ints = lambda s: [int(o) for o in s.split(',') if o]
    m.add_argument('--sizes', type=ints, default=[224,300,384,448,512]); m.add_argument('--tile-sizes', type=ints, default=[384,448])
    m.add_argument('--normality-sizes', type=ints, default=[448]); m.add_argument('--mil', default='r2'); m.add_argument('--csv', default='nbs/subtle_elpv.csv')
    c = sp.add_parser('cost'); c.add_argument('--archs', default='lite0'); c.add_argument('--sizes', default='224,300,384,448,512')
    c.add_argument('--bs', type=int, default=16); c.add_argument('--batches', type=int, default=3); c.add_argument('--bf16', action='store_true')
    u = sp.add_parser('curve'); u.add_argument('--out', default='/tmp/subtle')
    f = sp.add_parser('fine-fused'); f.add_argument('models', nargs='*', help="model directories of nexai-train elpv runs on one split and hold-out (their mean is fused)")
    f.add_argument('--method', choices=('padim','patchcore'), default='patchcore'); f.add_argument('--coreset', type=float, default=0.01)
    f.add_argument('--size', type=int, default=448); f.add_argument('--arch', default='lite0'); f.add_argument('--col', default='score_tta')
    f.add_argument('--out', default='/tmp/subtle'); f.add_argument('--csv', default=None)
    a = ap.parse_args(); warnings.filterwarnings('ignore')
    {'extract':extract, 'measure':measure, 'cost':cost, 'curve':curve, 'fine-fused':fine_fused}[a.cmd](a)

if __name__ == '__main__': main()
