"""`raie bench speed`: encode, region-training and mixed-adapter batch throughput (seqrec).

Runs on ML-100K (paper preset windows). Weights do not change the cost, so the backbone is
built untrained; one region's adapter is trained on the F windows, seven more are copies of
it. The mixed-batch ratio is the throughput of a batch spread over 8 regions divided by the
same batch routed to one region, both measured in this run, alternating, median of repeats.
"""

from __future__ import annotations

import argparse
import statistics
import time

import numpy as np
import torch

from flows.choices import BACKBONES
from flows.commands.output import print_json
from raie_core.adapters import (
    AdapterConfig,
    AdapterTrainingSet,
    RegionAdapters,
    WarmStart,
    adapter_name,
    train_adapter,
)
from raie_core.backbones import encode_array
from raie_core.backbones.seqrec import SeqRecConfig, build_seqrec
from raie_core.data import load_dataset
from raie_core.protocol import ProtocolConfig, build_vocab, paper_split
from raie_core.scoring import routed_scores
from raie_core.training import TrainConfig


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--regions", type=int, default=8, help="regions in the mixed batch")
    parser.add_argument("--batch-size", type=int, default=256, help="rows per scored batch")
    parser.add_argument("--repeats", type=int, default=15, help="timed repeats per mode")
    parser.add_argument("--train-epochs", type=int, default=2, help="epochs of region training")
    parser.add_argument("--max-len", type=int, default=20, help="context length")
    parser.add_argument(
        "--backbone", choices=BACKBONES, default="seqrec", help="the backbone measured"
    )
    parser.add_argument("--llm-batch-size", type=int, default=8, help="llm: windows per batch")
    parser.add_argument(
        "--threads",
        type=int,
        default=1,
        help="torch threads (default 1, as the pipeline runs; 0 = torch's default)",
    )


def _median_seconds(fn, repeats: int) -> float:
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def _mixed_ratio(bank: RegionAdapters, context: np.ndarray, n_regions: int, repeats: int) -> dict:
    n = len(context)
    mixed = np.arange(n, dtype=np.int64) % n_regions
    single = np.zeros(n, dtype=np.int64)
    routed_scores(bank, context, mixed, batch_size=n)  # warm-up
    routed_scores(bank, context, single, batch_size=n)
    t_mixed, t_single = [], []
    for _ in range(repeats):
        t_mixed.append(_median_seconds(lambda: routed_scores(bank, context, mixed, n), 1))
        t_single.append(_median_seconds(lambda: routed_scores(bank, context, single, n), 1))
    mixed_s, single_s = statistics.median(t_mixed), statistics.median(t_single)
    return {
        "single_adapter_windows_per_s": n / single_s,
        "mixed_batch_windows_per_s": n / mixed_s,
        "mixed_batch_ratio": single_s / mixed_s,
    }


def run(args: argparse.Namespace) -> int:
    if args.threads:
        torch.set_num_threads(args.threads)
    dataset = load_dataset("ml-100k")
    vocab = build_vocab(dataset.items)
    split = paper_split(dataset.interactions, ProtocolConfig(max_len=args.max_len), vocab)
    if args.backbone == "llm":
        return _llm(args, vocab, dataset.items, split.test)
    backbone = build_seqrec(vocab, SeqRecConfig(max_len=args.max_len))
    backbone.known_items[np.unique(split.setup_train.target)] = True

    start = time.perf_counter()
    encode_array(backbone, split.setup_train.context)
    encode_rate = len(split.setup_train) / (time.perf_counter() - start)

    train = TrainConfig(max_epochs=args.train_epochs, val_fraction=0.0)
    bank = RegionAdapters(backbone, AdapterConfig(train=train))
    data = AdapterTrainingSet.from_windows(split.finetune)
    start = time.perf_counter()
    result = train_adapter(bank, adapter_name(0), data, seed=0, warm_start=WarmStart.ZERO)
    train_rate = result.n_train * result.epochs / (time.perf_counter() - start)
    for region in range(1, args.regions):
        bank.add(adapter_name(region), WarmStart.PARENT, source=adapter_name(0))

    context = split.test.context[: args.batch_size]
    numbers = {
        "device": "cpu",
        "threads": torch.get_num_threads(),
        "encode_windows_per_s": encode_rate,
        "train_samples_per_s": train_rate,
        "regions": args.regions,
        "batch_size": len(context),
        **_mixed_ratio(bank, context, args.regions, args.repeats),
    }
    if args.json:
        print_json(numbers)
        return 0
    print(f"encode:          {numbers['encode_windows_per_s']:10.0f} windows/s")
    print(f"region training: {numbers['train_samples_per_s']:10.0f} samples/s")
    print(f"one adapter:     {numbers['single_adapter_windows_per_s']:10.0f} windows/s")
    print(f"{args.regions} regions mixed: {numbers['mixed_batch_windows_per_s']:10.0f} windows/s")
    print(f"mixed_batch_ratio: {numbers['mixed_batch_ratio']:.3f} (target >= 0.85)")
    return 0


def _llm(args: argparse.Namespace, vocab, catalog, windows) -> int:  # noqa: ANN001
    """Tokens/s of the real SmolLM2 for encode and LoRA training (bf16 on a GPU when present)."""
    from flows.benches.llm_speed import llm_speed
    from flows.env import raie_home
    from raie_core.backbones.llm import LLMConfig
    from tasks.llm_cache import build_cached_llm

    backbone = build_cached_llm(vocab, LLMConfig(), catalog, raie_home(args.home))
    numbers = {
        "backbone": "llm",
        "threads": torch.get_num_threads(),
        **llm_speed(backbone, windows, batch_size=args.llm_batch_size),
    }
    if args.json:
        print_json(numbers)
    else:
        for key, value in numbers.items():
            print(f"{key:>24}: {value}")
    return 0
