"""Do embeddings made on CUDA match the CPU's? The same CIFAR-10N images embedded three ways in one run: on the
CPU in fp32 with the workers resizing (the reference), on the CPU as the scan runs there (`precision auto`), and
on the CUDA device as the scan runs there (fp16, small images resized on the device).

    python benchmarks/device_agreement.py --subset 2000

Prints the cosine similarity of each image's embedding with the reference (minimum, 1st percentile, mean) and the
largest difference of the image statistics; writes benchmarks/results/device_agreement-<n>.json.
"""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import replace
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
import data  # noqa: E402

from labelfix.backbones import load_backbone, with_input_size  # noqa: E402
from labelfix.dataset import read_dataset  # noqa: E402
from labelfix.features.inference import embed_files  # noqa: E402
from labelfix.images.resolution import auto_input_size, typical_short_side  # noqa: E402

RESULTS = Path(__file__).resolve().parent / "results"


def embed(paths, backbone, device: torch.device) -> tuple[np.ndarray, list[dict]]:
    vectors, statistics = np.zeros((len(paths), backbone.feature_dim), np.float32), [{}] * len(paths)
    for batch in embed_files(paths, backbone, device=device):
        vectors[batch.indices] = batch.vectors
        for i, stats in zip(batch.indices, batch.statistics):
            statistics[i] = stats
    return vectors, statistics


def cosines(vectors: np.ndarray, reference: np.ndarray) -> dict:
    unit = vectors / np.linalg.norm(vectors, axis=1, keepdims=True)
    reference = reference / np.linalg.norm(reference, axis=1, keepdims=True)
    similarity = (unit * reference).sum(axis=1)
    return {"min": round(float(similarity.min()), 5), "p1": round(float(np.percentile(similarity, 1)), 5),
            "mean": round(float(similarity.mean()), 6)}


def largest_differences(statistics: list[dict], reference: list[dict]) -> dict:
    """The largest difference of the pretrained head's prediction entropy, and of any statistic computed from
    pixels (these come from the decoded image, before any resize: they should not differ at all)."""
    def largest(keys):
        return max(abs(a[key] - b[key]) for a, b in zip(statistics, reference) for key in keys(b))
    return {"prediction_entropy": round(largest(lambda s: ["prediction_entropy"]), 5),
            "pixel_statistics": largest(lambda s: [k for k, v in s.items() if isinstance(v, float) and k != "prediction_entropy"])}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--subset", type=int, default=2000)
    args = parser.parse_args()
    label_file, _, _ = data.cifar10n("aggre", args.subset)
    paths = read_dataset(label_file).paths
    backbone = load_backbone("lite0")
    backbone = with_input_size(backbone, auto_input_size(typical_short_side(paths), backbone.data_config["input_size"][-1]))
    cpu = torch.device("cpu")
    reference, reference_statistics = embed(paths, replace(backbone, reduced_precision=False), cpu)
    runs = {"cpu_auto": (backbone, cpu)}
    if torch.cuda.is_available():
        runs["cuda_auto"] = (backbone, torch.device("cuda"))
    result = {"images": len(paths), "input_size": backbone.data_config["input_size"][-1]}
    for name, (variant, device) in runs.items():
        vectors, statistics = embed(paths, variant, device)
        result[name] = {"cosine_with_cpu_fp32": cosines(vectors, reference),
                        "largest_difference": largest_differences(statistics, reference_statistics)}
        print(f"{name:10} cosine with CPU fp32: {result[name]['cosine_with_cpu_fp32']}; largest difference: "
              f"{result[name]['largest_difference']}")
    RESULTS.mkdir(exist_ok=True)
    path = RESULTS / f"device_agreement-{len(paths)}.json"
    path.write_text(json.dumps(result, indent=2) + "\n")
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
