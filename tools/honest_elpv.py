"""The honest 2 % figures of a model that `nexai-train elpv` wrote: the scrap threshold from the training part's hold-out, never the validation cells

    python tools/honest_elpv.py MODEL_DIR [--holdout 0.2] [--seed 42] [--tta 8] [--name NAME] [--csv nbs/subtle_elpv.csv]

`nexai-train` chooses the kept epoch and its F1 thresholds on a stratified hold-out of the training part (`--holdout`, default a fifth), and
scores the 656 validation cells once (`MODEL_DIR/valid_preds.csv`). Its `recall_at_fpr` figures ("caught at 2 % scrap") read the validation
cells' own good scores, as the old rows did. This script gives the line's figure instead: it reads the hold-out's scores from `MODEL_DIR/holdout_preds.csv`
(older runs: it draws the same hold-out with `stratified_part` and the run's seed, and scores it with the saved model, plain and TTA mean), takes the 98th percentile of the hold-out's good scores as the 2 % threshold,
and applies it to the validation scores: the defects caught, the scrap it really gives, and how many of issue 40's 68 escapes it catches.
With `--csv` it appends a row per score (plain, TTA) to that table.

Given several model directories (trained on the same split, hold-out and seed), it scores their mean: the hold-out's and the validation cells'
scores are averaged cell by cell, the 2 % threshold is the hold-out mean's 98th percentile and the accuracy is taken at the F1 threshold of the
hold-out mean (`pick_threshold`), so the validation cells still choose nothing. An older run's re-scored hold-out is kept beside its directory
(`DIR.holdout_preds.<model.json checksum>.csv`), so it is scored once, and not served to a model trained again in DIR; a
`holdout_preds.csv` that its `model.json` did not sign is refused.
"""
import argparse, json, sys, tempfile, time
import numpy as np, pandas as pd
from pathlib import Path
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # nexai from this tree
sys.path.insert(0, str(Path(__file__).resolve().parent))

def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument('model', nargs='+'); p.add_argument('--holdout', type=float, default=0.2); p.add_argument('--seed', type=int, default=42)
    p.add_argument('--tta', type=int, default=8); p.add_argument('--name', default=None); p.add_argument('--csv', default=None)
    p.add_argument('--soft', default=None, help="the run's --soft column, if it had one (prob for ELPV)")
    a = p.parse_args()
    from nexai.train import training_items, stratified_part, _parts
    from nexai.threshold import pick_threshold, metrics_at
    from sklearn.metrics import roc_auc_score
    from subtle_elpv import escapes
    outs = [Path(o) for o in a.model]; ms = [json.loads((o/'metrics.json').read_text()) for o in outs]
    with tempfile.TemporaryDirectory() as d: df = training_items('elpv', d, soft=a.soft)
    trn,_ = _parts(df)
    ho = trn[stratified_part(trn, a.holdout, a.seed)].sort_values('path').reset_index(drop=True)
    for o,m in zip(outs, ms):
        assert len(ho)==m['n_holdout'], f"{o}: the hold-out drawn has {len(ho)} cells, the run's {m['n_holdout']}: give its --holdout and --seed"
    t0 = time.time()
    hos = [_holdout_scores(o, ho, a.tta) for o in outs]
    vps = [pd.read_csv(o/'valid_preds.csv').sort_values('path').reset_index(drop=True) for o in outs]
    assert all((v.path.values==vps[0].path.values).all() for v in vps), "the model directories scored different validation cells"
    vp = vps[0]; y_va = (vp.label=='defect').values; y_ho = (ho.label=='defect').values
    esc = escapes(vp.path.map(lambda o: Path(o).name).values, np.ones(len(vp), bool))
    rows = []
    for col,tkey in (('score', None), ('score_tta', 'tta')):
        if not all(col in v for v in vps): continue
        s_ho,p_va = np.mean([h[col].values for h in hos], 0),np.mean([v[col].values for v in vps], 0)
        if len(outs)==1: thr = ms[0]['threshold'] if tkey is None else ms[0].get('tta', {}).get('threshold')
        else: thr = pick_threshold(y_ho.astype(int), s_ho, 'f1')['threshold']
        t02 = np.quantile(s_ho[~y_ho], .98, method='higher')
        o02 = np.quantile(p_va[~y_va], .98, method='higher')
        name = a.name or ' + '.join(o.name for o in outs)
        rows.append(dict(lever='fine-tuned', setting=name + (', TTA' if tkey else ''), accuracy=metrics_at(y_va.astype(int), p_va, thr)['accuracy'],
                         roc_auc=roc_auc_score(y_va, p_va), caught_2pct=float((p_va[y_va] > t02).mean()),
                         scrap_at_honest_2pct=float((p_va[~y_va] > t02).mean()), caught_2pct_oracle=float((p_va[y_va] > o02).mean()),
                         escapes_honest=int((p_va[esc] > t02).sum()), escapes_oracle=int((p_va[esc] > o02).sum())))
    r = pd.DataFrame(rows)
    print(f"hold-out: {len(ho)} cells ({int(y_ho.sum())} defects), read or scored in {time.time()-t0:.0f} s; {int(esc.sum())} escapes among the validation cells")
    print(r.to_string(index=False, float_format=lambda v: f'{v:.4f}'))
    if a.csv:
        old = pd.read_csv(a.csv)
        ar,sz = (ms[0].get('arch'), ms[0].get('size')) if len(ms)==1 else ('+'.join(sorted({str(m.get('arch')) for m in ms})), None)
        pd.concat([old, r.assign(arch=ar, size=sz)], ignore_index=True).to_csv(a.csv, index=False)

def _holdout_scores(out:Path, ho:pd.DataFrame, tta:int)->pd.DataFrame: # the hold-out's rows in `ho`'s order, with score and score_tta
    "The run's own hold-out scores (`holdout_preds.csv`, checked against `model.json`), or those kept beside an older run for this very model, or scored now and kept"
    from nexai.models import load_scorer, predict
    from nexai.core import sha256
    meta = json.loads((out/'model.json').read_text())
    own,kept = out/'holdout_preds.csv',out.with_name(f"{out.name}.holdout_preds.{meta['json_sha256'][:16]}.csv")  # keyed: a model trained again misses it
    if own.is_file() and meta.get('holdout_preds_sha256')!=sha256(own):
        raise SystemExit(f"{own} is not the file {out/'model.json'} signed (holdout_preds_sha256): train again, or remove it to score the hold-out afresh")
    for hp in (own, kept):  # nexai-train keeps them since 2026-12-06
        if hp.is_file():
            h = pd.read_csv(hp)
            assert sorted(h.path)==sorted(ho.path), f"{hp} holds other cells than the hold-out drawn"
            return h.set_index('path').loc[ho.path].reset_index()
    sc = load_scorer(out)
    h = ho[['path','label']].assign(score=predict(sc, ho, progress=True).score.values, score_tta=predict(sc, ho, progress=True, tta=tta).score.values)
    h.to_csv(kept, index=False)
    return h

if __name__=='__main__': main()
