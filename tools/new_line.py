"""A new line: a model trained on ELPV's mono cells, scored on poly ones, at its own threshold, at 0.5, and recalibrated without labels.

    python tools/new_line.py OUT [--arch lite0 --size 224 --epochs 5 --freeze-epochs 1]
    python tools/new_line.py OUT --normality [--method padim] [--refit]

trains on the mono cells of the published training part (validated on the mono ones of the published validation part),
or with --normality fits a model of normality on the good mono cells of the published training part (no labels at all),
then `recalibrate`s from the poly cells of the published training part that are good (labels used only to pick good
parts, as a line engineer collects them), and measures scrap and defects caught on the poly cells of the published
validation part. Prints one RESULT line; writes OUT/mono_poly.json (OUT/mono_nm_poly.json with --normality). `tools/gpu_elpv.py` runs the same on a GPU."""
import argparse, json, os, sys, time
from pathlib import Path

def mono_poly(model_dir, out, fpr:float=0.02):
    "A model trained on mono cells, scored on poly ones: at its threshold, at 0.5, and recalibrated on the poly cells of the published training part (good ones only, no labels used)"
    from nexai.data import from_elpv
    from nexai.models import predict
    from nexai.train import recalibrate
    from nexai.threshold import metrics_at
    d = from_elpv(); poly = d[d.type=='poly']
    if os.environ.get('GPU29_SMOKE'): poly = poly.groupby(['label','is_valid']).head(30)
    calib = poly[~poly.is_valid & (poly.label=='good')].path.tolist()  # the new line's good parts: all a line engineer needs to collect
    ev = poly[poly.is_valid]
    rec = recalibrate(model_dir, calib, out, fpr=fpr, progress=False)
    t = (ev.label=='defect').astype(int).values
    s = predict(model_dir, ev, progress=False).score.values
    res = dict(n_calib=len(calib), n_eval=len(ev), n_eval_defect=int(t.sum()), fpr_asked=fpr, recalibrated=rec)
    for k,thr in (('old_threshold', rec['threshold_before']), ('at_0_5', .5), ('recalibrated', rec['threshold_new'])):
        m = metrics_at(t, s, thr); res[k] = dict(threshold=thr, scrap=m['fpr'], caught=m['recall'], accuracy=m['accuracy'])
    from sklearn.metrics import roc_auc_score
    res['roc_auc'] = float(roc_auc_score(t, s))
    (Path(out).parent/f'{Path(out).name}.json').write_text(json.dumps(res, indent=2, default=str))
    print("RESULT mono->poly: " + '; '.join(f"{k}: thr {res[k]['threshold']:.3g}, scrap {res[k]['scrap']:.3f}, caught {res[k]['caught']:.3f}, acc {res[k]['accuracy']:.3f}" for k in ('old_threshold','at_0_5','recalibrated')) + f"; ROC AUC {res['roc_auc']:.3f}", flush=True)


def main(out, fpr=0.02, **recipe):
    from nexai.data import from_elpv
    from nexai.train import train_model
    d = from_elpv(); t0 = time.time()
    m = train_model(d[d.type=='mono'].reset_index(drop=True), Path(out)/'mono', **recipe)
    print(f"mono model: {time.time()-t0:.0f}s, mono validation accuracy {m['accuracy']:.4f}, ROC AUC {m['roc_auc']:.4f}", flush=True)
    mono_poly(Path(out)/'mono', Path(out)/'mono_poly', fpr)

def main_normality(out, fpr=0.02, method='padim', size=224):
    "The label-free route on a new line: a model of normality fitted on good mono cells, its threshold re-set from good poly cells"
    from nexai.data import from_elpv
    from nexai.train import fit_normality_dir
    d = from_elpv(); t0 = time.time()
    good = d[(d.type=='mono') & ~d.is_valid & (d.label=='good')].path.tolist()
    r = fit_normality_dir(good, Path(out)/'mono_nm', method=method, size=size)
    print(f"mono model of normality ({method}, {len(good)} good mono cells): {time.time()-t0:.0f}s", flush=True)
    mono_poly(Path(out)/'mono_nm', Path(out)/'mono_nm_poly', fpr)

def refit_normality(out, fpr=0.02):
    "What a new line can do with its good parts alone: the mono model of normality refitted on them (`recalibrate(refit=True)`, i.e. `nexai-export MONO --recalibrate GOOD --refit`), its threshold from a held-out fifth of them"
    from nexai.data import from_elpv
    from nexai.models import predict
    from nexai.train import recalibrate
    from nexai.threshold import metrics_at
    from sklearn.metrics import roc_auc_score
    d = from_elpv(); poly = d[d.type=='poly']; t0 = time.time()
    r = recalibrate(Path(out)/'mono_nm', poly[~poly.is_valid & (poly.label=='good')].path.tolist(), Path(out)/'poly_refit', fpr=fpr, refit=True, progress=False)
    ev = poly[poly.is_valid]; t = (ev.label=='defect').astype(int).values
    s = predict(Path(out)/'poly_refit', ev, progress=False).score.values; m = metrics_at(t, s, r['threshold_new'])
    res = dict(n_fit=r['n_fit'], n_holdout=r['n_holdout'], n_eval=len(ev), n_eval_defect=int(t.sum()), fpr_asked=fpr, threshold=r['threshold_new'], scrap=m['fpr'], caught=m['recall'], accuracy=m['accuracy'], roc_auc=float(roc_auc_score(t, s)), seconds=round(time.time()-t0))
    (Path(out)/'poly_refit.json').write_text(json.dumps(res, indent=2))
    print(f"RESULT mono->poly refitted on good poly cells: scrap {res['scrap']:.3f}, caught {res['caught']:.3f}, acc {res['accuracy']:.3f}; ROC AUC {res['roc_auc']:.3f} ({res['seconds']} s)", flush=True)

if __name__=='__main__':
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument('out'); ap.add_argument('--fpr', type=float, default=0.02)
    ap.add_argument('--arch', default='lite0'); ap.add_argument('--size', type=int, default=224)
    ap.add_argument('--epochs', type=int, default=5); ap.add_argument('--freeze-epochs', type=int, default=1)
    ap.add_argument('--lr', type=float, default=3e-3); ap.add_argument('--tta', type=int, default=0)
    ap.add_argument('--normality', action='store_true', help='the label-free route: a model of normality on good mono cells')
    ap.add_argument('--method', default='padim', help='--normality: its method')
    ap.add_argument('--refit', action='store_true', help='--normality: also refit the mono model on the good poly cells (nexai-export --recalibrate GOOD --refit)')
    a = ap.parse_args()
    if a.normality:
        main_normality(a.out, a.fpr, a.method)
        if a.refit: refit_normality(a.out, a.fpr)
        sys.exit()
    main(a.out, a.fpr, arch=a.arch, size=a.size, epochs=a.epochs, freeze_epochs=a.freeze_epochs, lr=a.lr, lr_mult=10., tta=a.tta, valid_pct=0.25, store=True)
