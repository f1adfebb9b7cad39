"""`llmos model …`: registered, options parsed, bad input refused in words; the progress line."""

from __future__ import annotations

import io
from pathlib import Path

import pytest

from llmos.cli import build_parser, main
from llmos.host.adapter.probe import benchmark_requests, judge


def test_the_model_commands_are_registered_with_their_options() -> None:
    args = build_parser("model").parse_args(
        ["model", "train-adapter", "--steps", "5", "--rank", "4", "--alpha", "8", "--lr", "0.001",
         "--limit", "3", "--seed", "7", "--out", "/tmp/x"])
    assert (args.steps, args.rank, args.alpha, args.lr, args.limit, args.seed, args.out) == \
        (5, 4, 8.0, 0.001, 3, 7, "/tmp/x")
    assert args.out and callable(args.run)
    with pytest.raises(SystemExit):
        build_parser("model").parse_args(["model", "train-adapter", "--steps", "5", "--epochs", "2"])


def test_a_bad_option_is_refused_before_any_work(capsys: pytest.CaptureFixture[str]) -> None:
    pytest.importorskip("torch")
    assert main(["model", "train-adapter", "--rank", "0", "--out", "/nonexistent"]) == 1
    assert "--rank" in capsys.readouterr().err


def test_probing_a_missing_adapter_says_so(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    missing = tmp_path / "none.gguf"
    assert main(["model", "probe-adapter", "--adapter", str(missing)]) == 1
    assert f"{missing}: no such adapter" in capsys.readouterr().err


def test_the_probe_judges_documents_and_picks_benchmark_prompts() -> None:
    good = ('{"title":"Birds","state":[{"name":"birds","type":"number","init":"0"}],'
            '"view":[{"kind":"text","label":"Seen","value":"birds"}]}')
    assert judge("r", good, 1.0).valid
    wrong = judge("r", good.replace('"value":"birds"', '"value":"bird"'), 1.0)
    assert wrong.parses and not wrong.valid and "bird" in wrong.first_error
    assert not judge("r", '{"title":"Birds","state":[', 1.0).parses
    requests = benchmark_requests(10)
    assert len(requests) == 10 == len(set(requests))


def test_progress_shows_step_loss_elapsed_and_eta() -> None:
    pytest.importorskip("torch")
    from llmos.host.adapter.progress import StepProgress
    from llmos.host.adapter.train import StepReport

    stream = io.StringIO()
    progress = StepProgress(stream)
    for step in range(1, 41):
        progress(StepReport(step, 40, 2.0 - step / 40, elapsed=3.0 * step))
    lines = stream.getvalue().splitlines()
    assert len(lines) == 21  # a pipe: the first step, then every 5 %
    assert lines[0].startswith("step 1/40  loss 1.975") and "eta 1:57" in lines[0]
    assert lines[-1].startswith("step 40/40  loss 1.000") and "3.0 s/step" in lines[-1]
    assert "elapsed 2:00" in lines[-1] and "eta 0:00" in lines[-1]
