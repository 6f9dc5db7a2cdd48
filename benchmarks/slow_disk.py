"""A first scan of files on a slow disk, next to reading the files alone and to the same scan of files in memory.

    sudo python benchmarks/slow_disk.py --dataset cifar10n --subset 10000 --iops 400
    sudo python benchmarks/slow_disk.py --dataset hymenoptera --iops 200 --method auto

A network drive or a cloud disk serves a few hundred reads a second, and a first scan finds nothing in the OS's
page cache. This puts each measurement in its own process, in a cgroup whose reads from the data's disk are
limited to `--iops` (Linux's blkio throttle: cgroup v1 `blkio` or v2 `io`; root only), after evicting the dataset's
files from the page cache (the interpreter's and the libraries' files stay), and runs, with an empty embedding
cache each time:
- reading every file once, alone (the I/O floor);
- `labelfix scan` on the throttled disk;
- the same scan, the files in the page cache and no limit (the CPU's share).
A scan that reads each file once, in its decoding workers, overlaps its reads with its decoding and its network:
its time tends to the larger of the floor and the in-memory scan, where reading everything first, then decoding,
takes their sum. Writes benchmarks/results/slow_disk-*.json.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import data  # noqa: E402

from labelfix.dataset import read_dataset  # noqa: E402

RESULTS = Path(__file__).resolve().parent / "results"
CGROUP = "labelfix-slow-disk"


def throttled_group(folder: Path, iops: int) -> Path:
    """A cgroup whose reads from the disk holding `folder` are limited to `iops`; its `tasks` / `cgroup.procs`
    file."""
    device = os.stat(folder).st_dev
    number = f"{os.major(device)}:{os.minor(device)}"
    if Path(f"/sys/dev/block/{number}/partition").exists():  # the limit applies to the whole disk
        number = Path(f"/sys/dev/block/{number}/../dev").resolve().read_text().strip()
    v1, v2 = Path("/sys/fs/cgroup/blkio"), Path("/sys/fs/cgroup")
    if v1.is_dir():
        group = v1 / CGROUP
        group.mkdir(exist_ok=True)
        (group / "blkio.throttle.read_iops_device").write_text(f"{number} {iops}")
        return group / "tasks"
    if (v2 / "cgroup.controllers").exists():
        (v2 / "cgroup.subtree_control").write_text("+io")
        group = v2 / CGROUP
        group.mkdir(exist_ok=True)
        (group / "io.max").write_text(f"{number} riops={iops}")
        return group / "cgroup.procs"
    raise SystemExit("no blkio or io cgroup controller here: this benchmark needs Linux cgroups and root")


def evict(paths: list[Path]) -> None:
    """The files' pages out of the OS's page cache (Python, torch and the rest stay: their reads are not the scan's)."""
    for path in paths:
        descriptor = os.open(path, os.O_RDONLY)
        try:
            os.posix_fadvise(descriptor, 0, 0, os.POSIX_FADV_DONTNEED)
        finally:
            os.close(descriptor)


def timed_process(command: list[str], members: Path | None, evicted: list[Path], env: dict | None = None) -> float:
    """Seconds `command` takes, started in the cgroup whose member file is `members` (None: no limit), after the
    `evicted` files are out of the page cache."""
    evict(evicted)

    def join() -> None:
        if members is not None:
            members.write_text(str(os.getpid()))

    start = time.perf_counter()
    subprocess.run(command, check=True, preexec_fn=join, env={**os.environ, **(env or {})},
                   stdout=subprocess.DEVNULL)
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    data.add_dataset_arguments(parser, "cifar10n", subset=10000)
    parser.add_argument("--iops", type=int, default=400, help="reads per second the disk serves")
    parser.add_argument("--method", default="embedding", help="the scan's crossval.method")
    args = parser.parse_args()

    path, facts, dataset_name = data.dataset_of(args)
    paths = read_dataset(path).paths
    members = throttled_group(paths[0].parent, args.iops)
    with tempfile.TemporaryDirectory() as folder:
        listing = Path(folder) / "paths.txt"
        listing.write_text("\n".join(map(str, paths)))
        read_all = [sys.executable, "-c", f"import pathlib\nfor p in pathlib.Path({str(listing)!r}).read_text().split():"
                    "\n    pathlib.Path(p).read_bytes()"]
        seconds, stages = {}, {}
        seconds["read_every_file_once"] = timed_process(read_all, members, paths)
        for name, limit in (("scan_slow_disk", members), ("scan_in_memory", None)):
            if limit is None:
                timed_process(read_all, None, [])  # into the page cache
            out = Path(folder) / name
            scan = [sys.executable, "-m", "labelfix", "scan", str(path), "--out", str(out), "--method", args.method]
            seconds[name] = timed_process(scan, limit, paths if limit else [],
                                          env={"LABELFIX_CACHE_DIR": str(Path(folder) / f"cache-{name}")})
            stages[name] = json.loads((out / "run.json").read_text())["timings_seconds"]
    floor, in_memory = seconds["read_every_file_once"], seconds["scan_in_memory"]
    result = {
        **facts, "images": len(paths), "iops": args.iops, "method": args.method,
        "seconds": {k: round(v, 2) for k, v in seconds.items()},
        "scan_slow_disk_over_sum": round(seconds["scan_slow_disk"] / (floor + in_memory), 3),
        "scan_slow_disk_over_larger": round(seconds["scan_slow_disk"] / max(floor, in_memory), 3),
        "stages": stages,
    }
    print(f"\n{dataset_name}: {len(paths)} images, reads limited to {args.iops}/s, method {args.method}")
    for name, value in seconds.items():
        print(f"{name:24}{value:>8.1f} s")
    print(f"slow-disk scan / (read alone + in-memory scan): {result['scan_slow_disk_over_sum']}; "
          f"/ the larger of the two: {result['scan_slow_disk_over_larger']}")
    print("slow-disk stages: " + ", ".join(f"{k} {v}" for k, v in stages["scan_slow_disk"].items()))
    RESULTS.mkdir(exist_ok=True)
    target = RESULTS / f"slow_disk-{dataset_name}-{args.iops}-{args.method}.json"
    target.write_text(json.dumps(result, indent=2) + "\n")
    print(f"wrote {target}")


if __name__ == "__main__":
    main()
