"""How many times one `nexai-predict` walks its images to build the file list: `python tools/file_walks.py MODEL_DIR IMAGES...`

Every nexai module's `find_images` is wrapped with a counter, then `nexai-predict MODEL_DIR IMAGES --out /tmp/...` runs in this process."""
import sys, tempfile, warnings
from pathlib import Path

def count_walks(model_dir, *images)->int:
    "Run `nexai-predict model_dir images` here and count the calls of `find_images` (each walks the inputs once)"
    import nexai.data, nexai.cli
    calls,orig = [],nexai.data.find_images
    def counted(*a, **k): calls.append(a); return orig(*a, **k)
    import nexai.models  # every kind's module, so that each one's `find_images` is wrapped
    mods = [m for n,m in list(sys.modules.items()) if n.startswith('nexai') and getattr(m, 'find_images', None) is orig]
    for m in mods: m.find_images = counted
    try:
        from fastcore.script import anno_parser
        f = nexai.cli.nexai_predict
        args = anno_parser(f).parse_args([str(model_dir), *map(str, images), '--out', str(Path(tempfile.mkdtemp())/'preds.csv')])
        with warnings.catch_warnings():
            warnings.simplefilter('ignore')
            try: f(**{k:v for k,v in vars(args).items() if k not in ('pdb','xtra')})
            except SystemExit as e:
                if e.code: raise
    finally:
        for m in mods: m.find_images = orig
    return len(calls)

if __name__=='__main__':
    print(f"{sys.argv[1]}: the file list built {count_walks(*sys.argv[1:])} time(s) in one nexai-predict")
