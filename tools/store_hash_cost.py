"""What the image store's content hashes cost on the README recipe's data: ELPV's 2,624 cells at 300 px.

    python tools/store_hash_cost.py [--size 300] [--folder /tmp/store_hash_cost] [--rounds 3]

Builds (once) the store of every ELPV cell at `size`, then times, in fresh processes so that nothing is cached in
Python: a warm `image_store` call (every file hashed, every chunk's checksum verified once: what each `nexai-train`
run and each DataLoader process pays), and the two parts alone, hashing the 2,624 source files and verifying the
chunk. The median of `rounds` each. Compare with an epoch of the README's recipe (2.3–2.5 minutes on this project's
2-core machine): the hashes are paid once per run, not once per epoch.
"""
import argparse, statistics, subprocess, sys

CODE = {
 'warm image_store (hash files + verify chunks)': "from nexai.data import from_elpv; from nexai.store import image_store; import time; df = from_elpv(); t = time.perf_counter(); image_store(df, {size}, {folder!r}, progress=False); print(time.perf_counter()-t)",
 'hash the source files': "from nexai.data import from_elpv; from nexai.store import _digest; from concurrent.futures import ThreadPoolExecutor; import time, os; fs = list(from_elpv().path); t = time.perf_counter(); list(ThreadPoolExecutor(min(8, os.cpu_count())).map(_digest, fs)); print(time.perf_counter()-t)",
 'verify the chunks': "from nexai.store import ImageStore, _digest; from pathlib import Path; import time; d = Path({folder!r})/'{size}px'; st = ImageStore(d, {size}); fs = [d/c['file'] for c in st.chunks]; t = time.perf_counter(); [_digest(f) for f in fs]; print(time.perf_counter()-t, sum(f.stat().st_size for f in fs)/2**20)",
}

def main():
    p = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    p.add_argument('--size', type=int, default=300); p.add_argument('--folder', default='/tmp/store_hash_cost'); p.add_argument('--rounds', type=int, default=3)
    a = p.parse_args()
    run = lambda code: subprocess.run([sys.executable, '-c', code.format(size=a.size, folder=a.folder)], capture_output=True, text=True, check=True).stdout.strip().splitlines()[-1].split()  # the last line: progress bars may write before it
    print(f"building the store (once): {float(run(CODE['warm image_store (hash files + verify chunks)'])[0]):.1f} s")
    for name,code in CODE.items():
        outs = [run(code) for _ in range(a.rounds)]
        extra = f" ({float(outs[0][1]):.0f} MiB)" if len(outs[0]) > 1 else ''
        print(f"{name}: {statistics.median(float(o[0]) for o in outs):.2f} s, median of {a.rounds}{extra}")

if __name__ == '__main__': main()
