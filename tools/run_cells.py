#!/usr/bin/env python
"""Run some cells of a notebook, in order, in one kernel, from the notebook's folder: a case study's slow rows without rerunning all of them.

    python tools/run_cells.py nbs/98_normality_case_study.ipynb 2 3 4 12 13

Cell numbers count every cell from 0 (markdown too), as Jupyter lists them. Text outputs are printed, not saved."""
import sys, os, json, time
from pathlib import Path
from execnb.shell import CaptureShell

def main(nb, *cells):
    nb = Path(nb).resolve()
    src = json.loads(nb.read_text())['cells']
    os.chdir(nb.parent)
    sh = CaptureShell()
    for i in map(int, cells):
        c = src[i]
        if c['cell_type']!='code': sys.exit(f"cell {i} of {nb.name} is not a code cell")
        t = time.time()
        outs = sh.run(''.join(c['source']))
        if sh.exc: raise sh.exc
        print(f"--- cell {i} ({time.time()-t:.0f} s)", flush=True)
        for o in outs:
            txt = o.get('text') or o.get('data', {}).get('text/plain') or []
            if txt: print(''.join(txt).rstrip()[-3000:], flush=True)

if __name__=='__main__': main(*sys.argv[1:])
