"""The tile model on ELPV's published split, with a quick recipe: does scoring tiles of the cell see the thin cracks (issue 40 item 2)?

`nexai.tiles.fit_tiles` trains on the training part of `from_elpv()` (its `is_valid` is the published stratified 75/25 split) less a
held-out fifth of it (stratified by label), which the validation cells never see and which chooses what is chosen: the threshold for
accuracy (best F1) and the threshold at 2 % scrap (the 98th percentile of its good cells' scores). The recipe is fixed beforehand:
Lite0, cells read at 300 px and cut into 2×2 tiles of 150 px, each upsampled to 224 px, pooled by the learned log-sum-exp; 1 epoch
frozen, then 1 unfrozen; batches of 8 cells (32 tiles). The validation cells choose nothing.

Prints, on the 656 validation cells: accuracy at the held-out F1 threshold; ROC AUC; the share of defects caught at 2 % scrap as the
project reports it (`recall_at_fpr`, the ROC point), and at the threshold the held-out fifth chose for 2 % scrap, with the scrap rate that
threshold gives on the validation cells; how many of the classifier's 68 escapes (issue 40) it catches at 2 % scrap; the seconds per epoch.

    nice -n 10 python tools/tiles_elpv.py [--out /tmp/tiles_elpv] [--tile 150] [--res 224] [--pool lse] [--tta 0] [--threads 2]

Measured on 2 CPU cores shared with other jobs (load average 10 to 18 throughout), so the times are upper bounds, not the recipe's cost:
- the recipe as above (224 px): the frozen epoch ran at 21 to 28 s a batch of 8 cells, about 1.5 h an epoch by fastai's estimate;
  stopped after 6 batches, as it could not finish in the time at hand. Later, at load 4 to 7, `--n 100` (80 training cells, 10 batches an
  epoch; a rate, not a figure of merit) took 90.8 s frozen and 218.1 s unfrozen, each with 20 held-out cells scored: about 8 s a batch
  frozen and 21 s unfrozen, so about 29 and 71 min for the full epochs of 196 batches, with 50 held-out batches at about 3 s each.
- `--res 150 --epochs 0` (native resolution, the frozen epoch alone): one epoch 2069 s (training and the held-out fifth); on the 656
  validation cells accuracy 0.675, ROC AUC 0.740, caught at 2 % scrap 0.220 (at the held-out fifth's 2 % threshold 0.146, scrapping
  0.013), 5 of the 68 escapes caught; scoring the validation cells 173 s. A frozen backbone and one epoch: far below the classifier
  (88.7 %, 0.939, 69.3 %); the unfrozen epoch, which is what fine-tunes the backbone to thin marks, is not measured yet.
- With bf16 and NHWC (`fit_tiles` now trains as a classifier does, `fast_training`): 0.72 s a batch of 8 cells against 2.36 s in fp32 NCHW,
  measured alone on 8 random cells. The full recipe, alone but for two short test runs in its unfrozen epochs 1 and 2:
  `--freeze-epochs 2 --epochs 12 --lr 6e-3 --lr-mult 10 --aug max_rotate=5,max_warp=0 --tta 4` (--out /work/runs/tiles_full): 1,888 s of
  training (about 127 s an unfrozen epoch, 105–117 s a frozen one), 2,056 s whole. Held-out fifth ROC AUC 0.889 (TTA 0.893). On the
  656 validation cells: plain accuracy 0.851, ROC AUC 0.887, caught at the held-out 2 % threshold 0.566 (scrapping 0.016), at the best
  0.595, escapes 4 / 6 of 68; TTA 0.852, 0.905, 0.561 (scrapping 0.013), 0.595, 2 / 4. Below the whole-cell Lite2 (0.927 with TTA), and a
  quarter of its score in the mean of the three Lite2 sizes leaves that mean's ROC AUC where it was (0.9335 against 0.9328).
"""
import argparse, time, warnings, json
import numpy as np, pandas as pd, torch
from pathlib import Path
from sklearn.model_selection import train_test_split
from sklearn.metrics import roc_auc_score
from nexai.data import from_elpv
from nexai.threshold import metrics_at, recall_at_fpr, pick_threshold
from nexai.tiles import fit_tiles, TileModel
from nexai.train import parse_aug
from probe_fine import escapes  # issue 40's 68 escapes, read one way (this folder is on the path when run as a script)

def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument('--out', default='/tmp/tiles_elpv'); ap.add_argument('--arch', default='lite0')
    ap.add_argument('--size', type=int, default=300); ap.add_argument('--tile', type=int, default=150); ap.add_argument('--overlap', type=int, default=0)
    ap.add_argument('--res', type=int, default=224); ap.add_argument('--pool', default='lse'); ap.add_argument('--bs', type=int, default=8)
    ap.add_argument('--freeze-epochs', type=int, default=1); ap.add_argument('--epochs', type=int, default=1); ap.add_argument('--lr', type=float, default=2e-3)
    ap.add_argument('--lr-mult', type=float, default=100)
    ap.add_argument('--tta', type=int, default=0); ap.add_argument('--seed', type=int, default=0); ap.add_argument('--threads', type=int, default=2)
    ap.add_argument('--aug', default=None, help="defect_tfms settings as nexai-train's --aug takes them, e.g. 'max_rotate=5,max_warp=0'")
    ap.add_argument('--bf16', type=int, default=None, help='1 or 0: bf16 autocast on or off (default: where the CPU has bf16 units)')
    ap.add_argument('--progress', action='store_true', help="fastai's progress bars and table")
    ap.add_argument('--n', type=int, default=0, help='a smoke test: this many cells of each part, drawn at random (0: all)')
    a = ap.parse_args(); warnings.filterwarnings('ignore'); torch.set_num_threads(a.threads)
    t0,out = time.time(),Path(a.out); out.mkdir(parents=True, exist_ok=True)
    df = from_elpv()
    if a.n: df = pd.concat([df[df.is_valid==v].sample(a.n, random_state=a.seed) for v in (False, True)])
    trn,valid = df[~df.is_valid].reset_index(drop=True),df[df.is_valid].reset_index(drop=True)
    _,held = train_test_split(np.arange(len(trn)), test_size=0.2, stratify=trn.label, random_state=a.seed)
    fit_df = trn.assign(is_valid=np.isin(np.arange(len(trn)), held))
    vt,esc = (valid.label=='defect').astype(int).values,escapes(valid)
    print(f"ELPV: {int((~fit_df.is_valid).sum())} cells to train on, {len(held)} held out of the training part to choose the thresholds; "
          f"{len(valid)} validation cells ({vt.sum()} defects, {esc.sum()} of them the classifier's escapes at 2 % scrap)", flush=True)
    learn = fit_tiles(fit_df, a.arch, size=a.size, tile=a.tile, overlap=a.overlap, res=a.res, pool=a.pool, epochs=a.epochs,
                      freeze_epochs=a.freeze_epochs, lr=a.lr, lr_mult=a.lr_mult, bs=a.bs, seed=a.seed, progress=a.progress,
                      bf16=None if a.bf16 is None else bool(a.bf16), aug=parse_aug(a.aug) if a.aug else None)
    ep = learn.nexai['epoch_s']
    print(f"trained: {learn.model.n_tiles} tiles of {a.tile} px at {a.res} px; seconds per epoch (training and the held-out fifth) {ep}; "
          f"temperature r {float(learn.model.log_r.exp()) if a.pool=='lse' else float('inf'):.2f}", flush=True)
    tm = TileModel.from_learner(learn)
    tm.save(out/'model')  # kept before scoring; saved again below with the held-out fifth's threshold and the figures
    hd = fit_df[fit_df.is_valid]; ht = (hd.label=='defect').astype(int).values
    recipe = dict(arch=a.arch, size=a.size, tile=a.tile, overlap=a.overlap, res=a.res, pool=a.pool, bs=a.bs, lr=a.lr, lr_mult=a.lr_mult,
                  freeze_epochs=a.freeze_epochs, epochs=a.epochs, seed=a.seed, aug=a.aug, bf16=learn.nexai['bf16'])
    res,scores = dict(epoch_s=ep, recipe=recipe),dict(path=valid.path, label=valid.label)
    for tta in ([0, a.tta] if a.tta else [0]):  # plain, then TTA: each pass's thresholds from the held-out fifth scored the same way
        t = time.time(); hs = tm.score(hd, tta=tta, progress=False).score.values; t_held = time.time()-t
        thr = pick_threshold(ht, hs, 'f1')['threshold']
        thr2 = float(np.quantile(hs[ht==0], .98, method='higher'))  # flags at most 2 % of the held-out good cells
        t = time.time(); vs = tm.score(valid, tta=tta, progress=False).score.values; t_valid = time.time()-t
        s02 = np.quantile(vs[vt==0], .98, method='higher')
        m2 = metrics_at(vt, vs, thr2)
        r = dict(accuracy=metrics_at(vt, vs, thr)['accuracy'], roc_auc=roc_auc_score(vt, vs), caught_2pct=recall_at_fpr(vt, vs, (0.02,))['0.02'],
                 caught_at_held_thr=m2['recall'], scrap_at_held_thr=m2['fpr'], escapes_caught=int((vs[esc] > s02).sum()),
                 escapes_caught_at_held_thr=int((vs[esc] > thr2).sum()), n_escapes=int(esc.sum()),
                 held_auc=roc_auc_score(ht, hs), threshold=thr, threshold_2pct=thr2, score_held_s=t_held, score_valid_s=t_valid, tta=tta)
        res['tta' if tta else 'plain'] = r; scores['score_tta' if tta else 'score'] = vs
        print(f"held-out fifth{' (TTA %d)' % tta if tta else ''}: ROC AUC {r['held_auc']:.3f}, F1 threshold {thr:.3f}, 2 % scrap threshold {thr2:.3f}")
        print(f"valid{' (TTA %d)' % tta if tta else ''}: accuracy {r['accuracy']:.3f}  ROC AUC {r['roc_auc']:.3f}  caught at 2 % scrap {r['caught_2pct']:.3f} "
              f"(at the held-out threshold: {r['caught_at_held_thr']:.3f}, scrapping {r['scrap_at_held_thr']:.3f})  escapes caught {r['escapes_caught']}/{r['n_escapes']} "
              f"({r['escapes_caught_at_held_thr']} at the held-out threshold)")
        print(f"scoring: held-out fifth {t_held:.0f} s, validation {t_valid:.0f} s", flush=True)
    p = res['plain']
    tm.save(out/'model', threshold=p['threshold'], metrics={k:p[k] for k in ('accuracy','roc_auc','caught_2pct','held_auc')})
    pd.DataFrame(scores).to_csv(out/'valid_scores.csv', index=False)
    res['total_s'] = time.time()-t0
    (out/'result.json').write_text(json.dumps(res, indent=2, default=float))
    print(f"total {res['total_s']:.0f} s -> {out}")

if __name__ == '__main__': main()
