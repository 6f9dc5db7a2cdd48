"""Real benchmark data from ../shared/data, unpacked once into a cache folder (never into the repo)."""

from __future__ import annotations

import json
import os
import time
import zipfile
from collections.abc import Iterable
from pathlib import Path

import numpy as np

SHARED_DATA = Path(os.environ.get("LABELFIX_SHARED_DATA", Path(__file__).resolve().parents[2] / "shared" / "data"))
BENCH_CACHE = Path(os.environ.get("LABELFIX_BENCH_DIR", Path.home() / ".cache" / "labelfix-benchmarks"))


def _unzip_once(archive: Path, target: Path) -> Path:
    marker = target / ".unpacked"
    if not marker.exists():
        if not archive.is_file():
            raise SystemExit(f"{archive}: not found; set LABELFIX_SHARED_DATA to the folder holding the shared data")
        target.mkdir(parents=True, exist_ok=True)
        with zipfile.ZipFile(archive) as bundle:
            bundle.extractall(target)
        marker.touch()
    return target


def hymenoptera() -> Path:
    """Class folders with train/val splits (397 photos + one placeholder GIF)."""
    return _unzip_once(SHARED_DATA / "hymenoptera" / "hymenoptera.zip", BENCH_CACHE / "hymenoptera") / "hymenoptera_data"


def large_photos(enlarge: int = 4) -> Path:
    """hymenoptera's photos (about 500 × 375) enlarged `enlarge` times (bicubic) and saved as JPEG (quality 90) in the
    same class folders, made once: camera-sized files to decode (4: about 2000 × 1500 pixels), though smoother than
    real photos of that size, which take longer to decode."""
    from PIL import Image

    def enlarged(stem, image):
        yield f"{stem}.jpg", image.resize((image.width * enlarge, image.height * enlarge), Image.Resampling.BICUBIC)

    return _from_hymenoptera_photos(BENCH_CACHE / f"hymenoptera-x{enlarge}", enlarged)


def many_photos(copies: int = 10) -> Path:
    """hymenoptera's photos at their own size (about 500 × 375), each saved `copies` times as a different JPEG
    (quality 90; copy k cropped by k pixels at the top and left, mirrored when k is odd), in the same class folders,
    made once: a set of real-photo decodes large enough that a scan's fixed costs (loading the model, writing the
    outputs) no longer hide the cost per image. The copies are near duplicates of each other, and flagged as such."""
    from PIL import ImageOps

    def copied(stem, image):
        for k in range(copies):
            copy = image.crop((k, k, image.width, image.height))
            yield f"{stem}-{k}.jpg", ImageOps.mirror(copy) if k % 2 else copy

    return _from_hymenoptera_photos(BENCH_CACHE / f"hymenoptera-{copies}-copies", copied)


def _from_hymenoptera_photos(target: Path, variants) -> Path:
    """`target` with, for each of hymenoptera's .jpg photos, the (file name, RGB image) pairs `variants(stem, image)`
    gives saved as JPEG (quality 90) in the photo's class folder; made once."""
    from PIL import Image

    source = hymenoptera()
    marker = target / ".made"
    if not marker.exists():
        for path in sorted(source.rglob("*.jpg")):
            with Image.open(path) as image:
                for name, variant in variants(path.stem, image.convert("RGB")):
                    out = target / path.relative_to(source).with_name(name)
                    out.parent.mkdir(parents=True, exist_ok=True)
                    variant.save(out, quality=90)
        marker.touch()
    return target


def cifar10n_labels() -> dict[str, np.ndarray]:
    with np.load(SHARED_DATA / "cifar10n" / "labels.npz", allow_pickle=False) as data:
        return {key: data[key] for key in data.files}


def cifar10n(labels: str = "aggre", subset: int | None = None, seed: int = 0) -> tuple[Path, np.ndarray, np.ndarray]:
    """A labels.jsonl dataset of CIFAR-10 train images with CIFAR-10N `labels`.

    Returns (dataset folder, given labels, clean labels) in the order of the JSONL lines.
    A subset is a seeded random choice of `subset` images.
    """
    root = _unzip_once(SHARED_DATA / "cifar10n" / "images.zip", BENCH_CACHE / "cifar10n")
    arrays = cifar10n_labels()
    classes = [str(c) for c in arrays["classes"]]
    chosen = np.arange(len(arrays["clean"]))
    if subset:
        chosen = np.sort(np.random.default_rng(seed).choice(chosen, size=subset, replace=False))
    label_file = root / f"labels-{labels}-{subset or 'all'}-{seed}.jsonl"
    if not label_file.exists():
        lines = (json.dumps({"image": f"images/{i:05d}.jpg", "label": classes[arrays[labels][i]]}) for i in chosen)
        label_file.write_text("\n".join(lines) + "\n")
    return label_file, arrays[labels][chosen], arrays["clean"][chosen]


# what the throughput benchmarks take by name (`by_name`)
DATASETS = ("hymenoptera", "cifar10n", "large-photos", "many-photos")


def by_name(name: str, subset: int | None = None, enlarge: int = 4, copies: int = 10) -> Path:
    """The folder or label file of one of DATASETS: cifar10n's `aggre` labels (`subset` images), large-photos
    enlarged `enlarge` times, many-photos with `copies` of each photo."""
    if name == "hymenoptera":
        return hymenoptera()
    if name == "cifar10n":
        return cifar10n("aggre", subset)[0]
    if name == "large-photos":
        return large_photos(enlarge)
    if name == "many-photos":
        return many_photos(copies)
    raise SystemExit(f"unknown dataset {name}: one of {', '.join(DATASETS)}")


def add_dataset_arguments(parser, dataset: str, subset: int) -> None:
    """`--dataset` (one of DATASETS), `--subset` (cifar10n), `--enlarge` (large-photos) and `--copies` (many-photos),
    as `by_name` takes them."""
    parser.add_argument("--dataset", default=dataset, choices=DATASETS)
    parser.add_argument("--subset", type=int, default=subset, help="cifar10n: this many images")
    parser.add_argument("--enlarge", type=int, default=4, help="large-photos: hymenoptera's photos this many times larger")
    parser.add_argument("--copies", type=int, default=10, help="many-photos: this many variants of each hymenoptera photo")


def dataset_of(args) -> tuple[Path, dict, str]:
    """The parsed `add_dataset_arguments`' folder or label file, their facts for a result JSON, and a file-name
    part: "cifar10n-10000", "large-photos-x4", "many-photos-10", "hymenoptera"."""
    facts = {"dataset": args.dataset, **({"enlarge": args.enlarge} if args.dataset == "large-photos" else {}),
             **({"copies": args.copies} if args.dataset == "many-photos" else {})}
    suffix = {"cifar10n": f"-{args.subset}", "large-photos": f"-x{args.enlarge}",
              "many-photos": f"-{args.copies}"}.get(args.dataset, "")
    return by_name(args.dataset, args.subset, args.enlarge, args.copies), facts, args.dataset + suffix


def parse_sets(items: list[str]) -> dict:
    """`--set KEY=VALUE` arguments as a dict, each value read as JSON where it is (numbers, true, lists)."""
    options = {}
    for key, text in (item.split("=", 1) for item in items):
        try:
            options[key] = json.loads(text)
        except json.JSONDecodeError:
            options[key] = text
    return options


def seconds_to_iterate(batches: Iterable) -> float:
    """Seconds to draw every batch of `batches` (a DataLoader: its workers' decoding and transforms) and do nothing
    with them."""
    start = time.perf_counter()
    for _ in batches:
        pass
    return time.perf_counter() - start
