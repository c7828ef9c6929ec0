"The house's figures: functions over 40 lines and library lines over 150 characters (`python tools/house_figures.py [--list]`)"
import ast, sys
from pathlib import Path

def long_functions(root='nexai', limit=40):
    "(lines, file:function) for each function of the library longer than `limit` lines; a console script's argument list aside"
    res = []
    for fn in sorted(Path(root).rglob('*.py')):
        if fn.name=='_modidx.py': continue
        for node in ast.walk(ast.parse(fn.read_text())):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                cli = any('call_parse' in ast.unparse(d) for d in node.decorator_list)
                start = node.body[0].lineno if cli else node.lineno  # a command's argument list (its flags) doesn't count
                n = node.end_lineno - start + 1
                if n > limit: res.append((n, f"{fn}:{node.name}"))
    return sorted(res, reverse=True)

def long_lines(root='nexai', limit=150):
    "(file, line number) of each library line longer than `limit` characters"
    return [(str(fn), i) for fn in sorted(Path(root).rglob('*.py')) if fn.name!='_modidx.py'
            for i,l in enumerate(fn.read_text().splitlines(), 1) if len(l) > limit]

if __name__=='__main__':
    fs,ls = long_functions(),long_lines()
    print(f"functions over 40 lines: {len(fs)}; library lines over 150 characters: {len(ls)}")
    if '--list' in sys.argv:
        for n,f in fs: print(f"  {n:4d} {f}")
        for f,i in ls: print(f"  {f}:{i}")
