"""`llmos model train-adapter` and `llmos model probe-adapter` (docs/adapter.md)."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from llmos.host.adapter.errors import AdapterError
from llmos.kernel.gateway.adapter import SHIPPED_PATH

CHECKOUT = Path(__file__).resolve().parents[2]
DEFAULT_OUT = CHECKOUT / "kernel" / "gateway" / "adapters"  # the checkout's copy, which the image ships
DEFAULT_NAME = SHIPPED_PATH.stem


def _say(text: str) -> None:
    print(f"llmos model: {text}", file=sys.stderr, flush=True)


def _train(args: argparse.Namespace) -> int:
    try:
        import torch  # noqa: F401  (the train extra: say so before any work)
    except ImportError:
        _say("training needs PyTorch and gguf: .venv/bin/pip install -e '.[train]'")
        return 1
    from llmos.host.adapter import data, export, train
    from llmos.host.adapter.progress import StepProgress, clock
    from llmos.host.adapter.tokens import Tokenizer, bare_prompt
    from llmos.host.adapter.weights import embedded_model_path, load_base

    try:
        config = train.TrainConfig(
            rank=args.rank, alpha=args.alpha if args.alpha is not None else 2.0 * args.rank, lr=args.lr,
            epochs=args.epochs, steps=args.steps, batch=args.batch, warmup=args.warmup, seed=args.seed,
            mlp=args.mlp, threads=args.threads,
            budget_seconds=args.budget_minutes * 60 if args.budget_minutes else None)
        if config.rank < 1 or config.batch < 1 or config.lr <= 0 or (config.steps is not None
                                                                     and config.steps < 1):
            raise AdapterError("--rank, --batch and --steps are at least 1 and --lr is positive")
        base_path = Path(args.base) if args.base else embedded_model_path()
        dataset = data.build_dataset(variations=args.variations, seed=args.seed, limit=args.limit)
        _say(f"data: {data.describe(dataset.pairs)} from {dataset.examples} app examples; "
             f"{len(dataset.dropped)} near copies of benchmark prompts dropped; "
             f"sha256 {dataset.sha256[:16]}…")
        tokenizer = Tokenizer(base_path)
        sequences = [tokenizer.pair(bare_prompt(pair.request), pair.answer) for pair in dataset.pairs]
        _say(f"base: {base_path} (reading and dequantizing)")
        base = load_base(base_path)
        total = config.total_steps(len(sequences))
        _say(f"training: {total} steps of {config.batch} sequence(s), rank {config.rank}, alpha "
             f"{config.alpha:g}, lr {config.lr:g}, {config.threads} threads")
        result = train.train(base, sequences, config, StepProgress())
        if result.stopped_early:
            _say(f"stopped after {result.steps} of {total} steps: the time budget ran out")
        out = Path(args.out)
        adapter = out / f"{args.name}.gguf"
        adapter_sha = export.write_adapter(adapter, result.adapters, config.alpha, name=args.name)
        losses = [round(loss, 4) for loss in result.losses]
        manifest = export.Manifest(
            base_sha256=export.file_sha256(base_path), base_name=base_path.name,
            data_sha256=dataset.sha256, examples=len(dataset.pairs),
            hyperparameters={**config.hyperparameters(), "steps": result.steps, "planned_steps": total,
                             "variations": args.variations, "limit": args.limit},
            loss=losses, cpu_seconds=round(result.cpu_seconds, 1), adapter_sha256=adapter_sha,
            extra={"wall_seconds": round(result.wall_seconds, 1), "app_examples": dataset.examples,
                   "sequences_seen": result.sequences, "answer_tokens": result.answer_tokens,
                   "seconds_per_step": round(result.wall_seconds / max(1, result.steps), 2),
                   "stopped_early": result.stopped_early})
        export.write_manifest(export.manifest_path(adapter), manifest)
    except AdapterError as error:
        _say(str(error))
        return 1
    head, tail = losses[: max(1, len(losses) // 10)], losses[-max(1, len(losses) // 10):]
    _say(f"wrote {adapter} ({adapter.stat().st_size:,} bytes) and {export.manifest_path(adapter).name}; "
         f"loss {sum(head) / len(head):.3f} → {sum(tail) / len(tail):.3f} (first and last tenth), "
         f"{clock(result.wall_seconds)} wall, {result.cpu_seconds:.0f} CPU seconds")
    return 0


def _probe(args: argparse.Namespace) -> int:
    from llmos.host.adapter.probe import benchmark_requests, probe
    from llmos.host.adapter.weights import embedded_model_path

    try:
        base = Path(args.base) if args.base else embedded_model_path()
        adapter = None if args.without else Path(args.adapter or DEFAULT_OUT / f"{DEFAULT_NAME}.gguf")
        if adapter is not None and not adapter.is_file():
            raise AdapterError(f"{adapter}: no such adapter (train one with `llmos model train-adapter`)")
        requests = benchmark_requests(args.count)
    except AdapterError as error:
        _say(str(error))
        return 1
    results = probe(base, adapter, requests, max_tokens=args.max_tokens)
    for result in results:
        verdict = "valid" if result.valid else "parses, invalid" if result.parses else "does not parse"
        print(f"{verdict:16} {result.seconds:5.1f}s  {result.request}")
        if args.verbose or not result.valid:
            print(f"    {result.text[:300]}")
            if result.first_error:
                print(f"    first error: {result.first_error}")
    valid = sum(result.valid for result in results)
    parses = sum(result.parses for result in results)
    print(json.dumps({"adapter": str(adapter) if adapter else None, "requests": len(results),
                      "parse": parses, "valid": valid}))
    return 0


def add_commands(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    model = subparsers.add_parser("model", help="the embedded model's LoRA adapter (host side)")
    commands = model.add_subparsers(dest="model_command", required=True)
    trainer = commands.add_parser("train-adapter", help="train a LoRA adapter for the bare app prompt "
                                  "on this machine's CPU (needs the train extra)")
    trainer.add_argument("--out", default=str(DEFAULT_OUT), help="folder for <name>.gguf and <name>.json")
    trainer.add_argument("--name", default=DEFAULT_NAME)
    trainer.add_argument("--base", help="the base GGUF (default: the embedded model)")
    length = trainer.add_mutually_exclusive_group()
    length.add_argument("--steps", type=int, help="optimizer steps (default: from --epochs)")
    length.add_argument("--epochs", type=float, default=1.0, help="passes over the pairs (default 1)")
    trainer.add_argument("--rank", type=int, default=8)
    trainer.add_argument("--alpha", type=float, help="LoRA alpha (default: twice the rank)")
    trainer.add_argument("--lr", type=float, default=2e-4)
    trainer.add_argument("--batch", type=int, default=1, help="sequences per step")
    trainer.add_argument("--warmup", type=int, default=20, help="warm-up steps")
    trainer.add_argument("--limit", type=int, help="use only the first N examples (smoke runs)")
    trainer.add_argument("--variations", type=int, default=2, help="paraphrases per example")
    trainer.add_argument("--seed", type=int, default=0)
    trainer.add_argument("--mlp", action="store_true", help="adapters on the MLP projections too")
    trainer.add_argument("--threads", type=int, default=2)
    trainer.add_argument("--budget-minutes", type=float, help="stop early past this much wall time")
    trainer.set_defaults(run=_train)
    prober = commands.add_parser("probe-adapter", help="generate for benchmark prompts with the adapter "
                                 "and count the documents that validate")
    prober.add_argument("--adapter", help=f"default: {DEFAULT_OUT}/{DEFAULT_NAME}.gguf")
    prober.add_argument("--without", action="store_true", help="the base model alone, for comparison")
    prober.add_argument("--base", help="the base GGUF (default: the embedded model)")
    prober.add_argument("--count", type=int, default=10)
    prober.add_argument("--max-tokens", type=int, default=400)
    prober.add_argument("--verbose", action="store_true", help="show every answer")
    prober.set_defaults(run=_probe)
