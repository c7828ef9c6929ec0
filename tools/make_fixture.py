"""Write `nbs/fixtures/v1/`: small images, model directories written by this version of nexai, and the scores it gives them.

The tests in `10_normality` and `12b_models` hold later versions to these numbers: every method of normality, refitted on the
same images, must score them within 1e-4, and every model directory here must still load and score the same. Run it once per
format change, never to make a failing test pass: `python tools/make_fixture.py` (about a minute on 2 CPU cores).
"""
import json, shutil, sys, warnings
from pathlib import Path
import numpy as np, pandas as pd, torch
from fastai.vision.all import set_seed
import nexai
from nexai.core import synth_defects
from nexai.data import from_folder, defect_dls
from nexai.learner import defect_learner, fit_defects
from nexai.classifier import save_model_dir
from nexai.normality import fit_normality, score_images, FEATURE_METHODS
from nexai.normality.reconstruction import fit_generative
from nexai.train import fit_normality_dir
from nexai.models import load_scorer

out = Path(sys.argv[1] if len(sys.argv) > 1 else 'nbs/fixtures/v1')
if out.exists(): shutil.rmtree(out)
(out/'images').mkdir(parents=True)
tmp = out/'_synth'
synth_defects(tmp, n_good=16, n_defect=6, size=64, seed=0)
for f in sorted(tmp.rglob('*.png')): shutil.copy(f, out/'images'/f'{f.parent.name}_{f.name}')
shutil.rmtree(tmp)
imgs = sorted((out/'images').glob('*.png'))
good = [f for f in imgs if f.name.startswith('good')]
fit_on = good[:12]  # the other 4 good parts and the 6 defects are only scored
rows = pd.DataFrame(dict(path=[f.name for f in imgs]))

# every method of normality, fitted on the same 12 good parts (the refit test)
for m in FEATURE_METHODS:
    nm = fit_normality(fit_on, m, arch='lite0', size=64, progress=False, **(dict(pool='grid4') if m=='padim' else dict(pool='local4') if m=='patchcore' else {}))
    rows[m] = score_images(nm, imgs, progress=False)
for m in ('vae','ganomaly'):
    gm = fit_generative(fit_on, m, size=32, epochs=2, bs=4, holdout=0.25, nf=8, nz=16, progress=False)
    rows[m] = gm.score(imgs, progress=False).score.values

# model directories written by this version (the load test): a classifier, a model of normality and a VAE
tr = out/'_train'
synth_defects(tr, n_good=16, n_defect=8, size=32, seed=1)
set_seed(0, reproducible=True)
dls = defect_dls(from_folder(tr), size=32, bs=8, valid_pct=0.25, num_workers=0)
learn = fit_defects(defect_learner(dls, 'test_efficientnet', pretrained=False, bf16=False), epochs=1, freeze_epochs=0, lr=1e-2)
save_model_dir(learn, out/'models'/'classifier', threshold=0.5)
shutil.rmtree(tr)
fit_normality_dir([str(f) for f in good], out/'models'/'knn', method='knn', size=64, holdout=0.25)
fit_normality_dir([str(f) for f in good], out/'models'/'vae', method='vae', size=32, epochs=2, bs=4, holdout=0.25)
for d in sorted((out/'models').iterdir()):
    rows[f'dir:{d.name}'] = load_scorer(d).score(imgs, progress=False).score.values

rows.to_csv(out/'expected.csv', index=False, float_format='%.9g')
(out/'README.md').write_text(f"Written by `python tools/make_fixture.py` with nexai {nexai.__version__}, torch {torch.__version__}: "
                             "22 synthetic 64 px images, three model directories, and `expected.csv`, the scores this version gave them.\n")
print(rows.round(4).to_string())
print(f"{out}: {sum(f.stat().st_size for f in out.rglob('*') if f.is_file())/1e6:.2f} MB")
