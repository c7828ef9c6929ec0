"""Few labels on ELPV: a linear probe on frozen Lite0 features, and the combiner with and without the cell type as an input.

The probe stands in for the classifier here: a logistic regression on max-pooled features of every Lite0 stage at 224 px,
trained on every good part of the training part and `n` drawn defects; its out-of-fold scores feed `nexai.train.fit_combiner`
beside the model of normality (PaDiM per cell type, fitted as `label_curve` fits it). Scores are on ELPV's 656 held-out cells.

    python tools/probe_elpv.py [--counts 20,50,100,all] [--draws 3] [--out /tmp/probe_elpv]

Takes about 4 minutes on 2 CPU cores (the features and the model of normality are cached in --out).
"""
import argparse, time, warnings
import numpy as np, pandas as pd
from pathlib import Path
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import cross_val_predict, StratifiedKFold
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from nexai.train import read_data, fit_normality_dir, combiner_part, fit_combiner
from nexai.data import split
from nexai.models import predict
from nexai.fused import FusedModel
from nexai.normality.features import extract_features
from nexai.threshold import score_metrics

def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument('--counts', default='20,50,100,all'); ap.add_argument('--draws', type=int, default=3)
    ap.add_argument('--seed', type=int, default=42); ap.add_argument('--out', default='/tmp/probe_elpv')
    a = ap.parse_args(); warnings.filterwarnings('ignore')
    t0,out = time.time(),Path(a.out); out.mkdir(parents=True, exist_ok=True)
    df = split(read_data('elpv'), .2, a.seed)
    trn,held = df[~df.is_valid].reset_index(drop=True),df[df.is_valid].reset_index(drop=True)
    ht = (held.label=='defect').astype(int).values
    nmd = out/'normality'
    if not (nmd/'model.json').is_file():  # as label_curve fits it: PaDiM per type on the good parts outside the combiner's share
        goods = trn[trn.label=='good']; goods[~combiner_part(goods, .25, a.seed)][['path','type']].to_csv(out/'nfit.csv', index=False)
        fit_normality_dir(out/'nfit.csv', nmd, method='padim', size=224, group='type', seed=a.seed)
    sn = predict(nmd, df, progress=False).set_index('path').score
    F = extract_features(df, size=224, pool='max', feature_file=out/'features_max.npz', progress=False)
    X = np.concatenate(list(F.values()), 1); pos = {p:i for i,p in enumerate(df.path)}
    Xt,Xh = X[[pos[p] for p in trn.path]],X[[pos[p] for p in held.path]]
    sig = lambda z: 1/(1+np.exp(-z))
    m = lambda s: score_metrics(ht, s, .5)
    r0 = m(sn.loc[held.path].values)
    print(f"normality alone (no labels): ROC AUC {r0['roc_auc']:.3f}, caught at 2 % scrap {r0['recall_at_fpr']['0.02']:.3f}")
    goods_i,defs,comb = np.where(trn.label=='good')[0],trn[trn.label=='defect'],combiner_part(trn, .25, a.seed)
    rows = []
    for n in [None if c=='all' else int(c) for c in a.counts.split(',')]:
        for d in range(a.draws if n else 1):
            pick = defs.sample(n, random_state=a.seed+d).index.to_numpy() if n else defs.index.to_numpy()
            idx = np.r_[goods_i, pick]; y = trn.label.iloc[idx].eq('defect').astype(int).values
            probe = lambda: make_pipeline(StandardScaler(), LogisticRegression(C=0.01, max_iter=2000, class_weight='balanced'))
            ph = probe().fit(Xt[idx], y).decision_function(Xh)
            oof = pd.Series(cross_val_predict(probe(), Xt[idx], y, cv=StratifiedKFold(5, shuffle=True, random_state=d), method='decision_function'), index=idx)
            use = np.r_[goods_i[comb[goods_i]], pick]  # the combiner's parts: good parts the model of normality did not fit, and the drawn defects
            row = dict(n_defects=len(pick), draw=d, probe=m(sig(ph))['roc_auc'], probe_2pct=m(sig(ph))['recall_at_fpr']['0.02'])
            for gi in (True, False, 'auto'):
                c,_,_ = fit_combiner(sig(oof.loc[use].values), sn.loc[trn.path.iloc[use]].values, trn.type.iloc[use].tolist(), trn.label.iloc[use].eq('defect').astype(int).values, 'f1', group_input=gi)
                r = m(FusedModel(None, None, dict(combiner=c)).combine(sig(ph), sn.loc[held.path].values, held.type.tolist()))
                row[f'fused_group_{gi}'] = r['roc_auc']; row[f'fused_group_{gi}_2pct'] = r['recall_at_fpr']['0.02']
                if gi=='auto': row['auto_kept_group'] = c['group_input']['kept']
            rows.append(row); print(' '.join(f"{k}={v:.3f}" if isinstance(v, float) else f"{k}={v}" for k,v in row.items()), flush=True)
    res = pd.DataFrame(rows); res.to_csv(out/'probe_elpv.csv', index=False)
    print('\nmean ROC AUC over draws:'); print(res.groupby('n_defects')[['probe','fused_group_True','fused_group_False','fused_group_auto']].mean().round(3).to_string())
    print(f"\n{time.time()-t0:.0f} s")

if __name__ == '__main__': main()
