"""The honest 2 % figures of a model that `nexai-train elpv` wrote: the scrap threshold from the training part's hold-out, never the validation cells

    python tools/honest_elpv.py MODEL_DIR [--holdout 0.2] [--seed 42] [--tta 8] [--name NAME] [--csv nbs/subtle_elpv.csv]

`nexai-train` chooses the kept epoch and its F1 thresholds on a stratified hold-out of the training part (`--holdout`, default a fifth), and
scores the 656 validation cells once (`MODEL_DIR/valid_preds.csv`). Its `recall_at_fpr` figures ("caught at 2 % scrap") read the validation
cells' own good scores, as the old rows did. This script gives the line's figure instead: it reads the hold-out's scores from `MODEL_DIR/holdout_preds.csv`
(older runs: it draws the same hold-out with `stratified_part` and the run's seed, and scores it with the saved model, plain and TTA mean), takes the 98th percentile of the hold-out's good scores as the 2 % threshold,
and applies it to the validation scores: the defects caught, the scrap it really gives, and how many of issue 40's 68 escapes it catches.
With `--csv` it appends a row per score (plain, TTA) to that table.
"""
import argparse, json, sys, tempfile, time
import numpy as np, pandas as pd
from pathlib import Path
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # nexai from this tree
sys.path.insert(0, str(Path(__file__).resolve().parent))

def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument('model'); p.add_argument('--holdout', type=float, default=0.2); p.add_argument('--seed', type=int, default=42)
    p.add_argument('--tta', type=int, default=8); p.add_argument('--name', default=None); p.add_argument('--csv', default=None)
    p.add_argument('--soft', default=None, help="the run's --soft column, if it had one (prob for ELPV)")
    a = p.parse_args()
    from nexai.train import training_items, stratified_part, _parts
    from nexai.models import load_scorer, predict
    from nexai.threshold import pick_threshold, metrics_at
    from sklearn.metrics import roc_auc_score
    from subtle_elpv import escapes
    out = Path(a.model); m = json.loads((out/'metrics.json').read_text())
    with tempfile.TemporaryDirectory() as d: df = training_items('elpv', d, soft=a.soft)
    trn,_ = _parts(df)
    ho = trn[stratified_part(trn, a.holdout, a.seed)].reset_index(drop=True)
    assert len(ho)==m['n_holdout'], f"the hold-out drawn has {len(ho)} cells, the run's {m['n_holdout']}: give its --holdout and --seed"
    vp = pd.read_csv(out/'valid_preds.csv')
    y_va = (vp.label=='defect').values; esc = escapes(vp.path.map(lambda o: Path(o).name).values, np.ones(len(vp), bool))
    sc,t0 = load_scorer(out),time.time()
    rows = []
    for col,kw,thr in (('score', {}, m['threshold']), ('score_tta', dict(tta=a.tta), m.get('tta', {}).get('threshold'))):
        if col not in vp: continue
        hp = out/'holdout_preds.csv'  # nexai-train keeps the hold-out's scores since 2026-12-06; older runs are scored again
        if hp.is_file():
            h = pd.read_csv(hp); assert sorted(h.path)==sorted(ho.path), f"{hp} holds other cells than the hold-out drawn"
            s_ho,y_ho = h[col].values,(h.label=='defect').values
        else: s_ho,y_ho = predict(sc, ho, progress=True, **kw).score.values,(ho.label=='defect').values
        p_va = vp[col].values
        t02 = np.quantile(s_ho[~y_ho], .98, method='higher')
        o02 = np.quantile(p_va[~y_va], .98, method='higher')
        rows.append(dict(lever='fine-tuned', setting=(a.name or out.name) + (', TTA' if kw else ''), accuracy=metrics_at(y_va.astype(int), p_va, thr)['accuracy'],
                         roc_auc=roc_auc_score(y_va, p_va), caught_2pct=float((p_va[y_va] > t02).mean()),
                         scrap_at_honest_2pct=float((p_va[~y_va] > t02).mean()), caught_2pct_oracle=float((p_va[y_va] > o02).mean()),
                         escapes_honest=int((p_va[esc] > t02).sum()), escapes_oracle=int((p_va[esc] > o02).sum())))
    r = pd.DataFrame(rows)
    print(f"hold-out: {len(ho)} cells ({int(y_ho.sum())} defects), scored in {time.time()-t0:.0f} s; {int(esc.sum())} escapes among the validation cells")
    print(r.to_string(index=False, float_format=lambda v: f'{v:.4f}'))
    if a.csv:
        old = pd.read_csv(a.csv)
        pd.concat([old, r.assign(arch=m.get('arch'), size=m.get('size'))], ignore_index=True).to_csv(a.csv, index=False)

if __name__=='__main__': main()
