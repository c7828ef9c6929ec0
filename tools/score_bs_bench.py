#!/usr/bin/env python
"""Seconds of one scoring pass over a model directory's validation images, by batch size, in bf16 and fp32, and whether the scores change.

    python tools/score_bs_bench.py nbs/elpv_runs/15 --cache /tmp/s/fc15

The model directory must come from `nexai-train elpv` (its validation split is rebuilt from the ELPV labels and the seed). Each pass goes through fastai's `get_preds`, as validation in training does, with the learner's callbacks (channels-last, the folded BatchNorm), after a warm-up pass."""
import argparse, json, time, contextlib, tempfile
from pathlib import Path
from nexai.train import _train_dls, parse_aug
from nexai.learner import defect_learner, fp32_scoring
from nexai.scorer import read_weights

def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument('model_dir'); ap.add_argument('--cache', help="an image store folder at the model's size (built if empty)")
    ap.add_argument('--sizes', default='8,16,32,64'); ap.add_argument('--rounds', type=int, default=2)
    a = ap.parse_args()
    d = Path(a.model_dir); meta = json.loads((d/'model.json').read_text()); tr = meta['training']
    with tempfile.TemporaryDirectory() as out:
        dls = _train_dls('elpv', Path(out), meta['size'], 32, 1., 0.2, 42, parse_aug(meta.get('aug')), None, None, 0, 0, cache=a.cache)[0]
    learn = defect_learner(dls, meta['arch'], pretrained=False)
    learn.model.load_state_dict(read_weights(d/'model.safetensors'))
    ref = {}
    with learn.no_bar():
        learn.get_preds(dl=dls.valid.new(bs=16))
        for r in range(a.rounds):
            for prec in ('bf16', 'fp32'):
                for b in map(int, a.sizes.split(',')):
                    with (fp32_scoring(learn) if prec=='fp32' else contextlib.nullcontext()):
                        t = time.perf_counter(); p,_ = learn.get_preds(dl=dls.valid.new(bs=b)); dt = time.perf_counter()-t
                    ref.setdefault(prec, p)
                    print(f"round {r} {prec} batch {b:3d}: {dt:5.1f} s for {len(p)} images; largest change of a score from the first batch size's: {(p-ref[prec]).abs().max():.1e}", flush=True)

if __name__=='__main__': main()
