#!/usr/bin/env python
"""README.md from nbs/index.ipynb, for machines without quarto.

`nbdev-readme` renders through quarto, which the package index can't install offline (its `quarto-cli`
sdist downloads the binary at install time). This does the same for our index: markdown as it is, code as
python blocks, `#|hide` cells and `#|` directives left out. Run: python tools/readme.py
"""
import re
from pathlib import Path
from fastcore.xtras import loads
root = Path(__file__).resolve().parent.parent
nb = loads((root/'nbs'/'index.ipynb').read_text())
out = []
for c in nb['cells']:
    src = ''.join(c['source'])
    lines = src.splitlines()
    if any(re.match(r'#\s*\|\s*hide', l) for l in lines): continue
    if c['cell_type']=='markdown': out.append(src)
    else:
        code = '\n'.join(l for l in lines if not re.match(r'#\s*\|', l)).strip()
        if code: out.append(f'```python\n{code}\n```')
(root/'README.md').write_text('\n\n'.join(out) + '\n')
print('wrote', root/'README.md')
