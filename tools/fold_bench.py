"""BatchNorm folded into the convolutions for scoring (`FoldedBN`): how much faster, and how much the scores move.

    python tools/fold_bench.py [MODEL_DIR] [--bs 32] [--rounds 2] [--cache DIR]

Speed: one forward pass of a batch of `bs` random images at the model's size, in fp32 and in bf16 autocast, with and
without folding, alternated `rounds` times; the median of each. Scores: the model directory's own validation images
(its `valid_preds.csv`), scored in the four ways; ROC AUC of each, and how far each moves the defect probability from
fp32 without folding. Run it with nothing else on the machine: it measures wall time.
"""
import argparse, contextlib, statistics, time
import numpy as np, pandas as pd, torch
from pathlib import Path
from sklearn.metrics import roc_auc_score
from nexai.models import load_scorer
from nexai.fold import bn_pairs, FoldedBN

WAYS = [(False, False), (False, True), (True, False), (True, True)]  # (bf16, fold)
name = lambda bf16, fold: f"{'bf16' if bf16 else 'fp32'}, {'folded' if fold else 'plain'}"

def main():
    p = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    p.add_argument('model', nargs='?', default='nbs/elpv_runs/13'); p.add_argument('--bs', type=int, default=32)
    p.add_argument('--rounds', type=int, default=2); p.add_argument('--cache', default=None, help='an image store folder for the validation images')
    a = p.parse_args()
    dm = load_scorer(a.model)
    net = dm.model.to(memory_format=torch.channels_last).eval()
    x = torch.randn(a.bs, 3, dm.size, dm.size).contiguous(memory_format=torch.channels_last)
    pairs = bn_pairs(net, x[:1])
    def fwd(bf16, fold):
        with torch.inference_mode(), torch.autocast('cpu', dtype=torch.bfloat16, enabled=bf16), (FoldedBN(pairs) if fold else contextlib.nullcontext()):
            t0 = time.perf_counter(); net(x); return time.perf_counter()-t0
    times = {w: [] for w in WAYS}
    for r in range(a.rounds):
        for w in (WAYS if r%2==0 else WAYS[::-1]):
            fwd(*w); times[w] += [fwd(*w) for _ in range(2)]
    med = {w: statistics.median(v) for w,v in times.items()}
    print(f"{dm.meta['arch']} at {dm.size} px, batch {a.bs}, channels-last, {torch.get_num_threads()} threads; {len(pairs)} BatchNorm layers folded")
    print("one forward pass, median s (folded against plain):")
    for w in WAYS: print(f"  {name(*w):14s} {med[w]:.3f} s" + (f"   {med[(w[0], False)]/med[w]:.2f}x" if w[1] else ''))
    vp = pd.read_csv(Path(a.model)/'valid_preds.csv')
    y = (vp.label=='defect').values
    s = {}
    for bf16,fold in WAYS:
        dm.bf16,dm.fold_bn,dm.cache = bf16,fold,a.cache
        s[(bf16,fold)] = dm.score(vp.path.tolist(), bs=a.bs, progress=False).score.values
    ref = s[(False, False)]
    print(f"the {len(vp)} validation images of {a.model}: ROC AUC; defect probability against fp32 plain, mean and largest |difference|")
    for w in WAYS: print(f"  {name(*w):14s} ROC AUC {roc_auc_score(y, s[w]):.5f}   mean {np.abs(s[w]-ref).mean():.5f}   largest {np.abs(s[w]-ref).max():.5f}")

if __name__ == '__main__': main()
