"""Training pairs: every document checked before training (a bad one refused with its location),
benchmark prompts held out, unsupported answers left out, the data's digest reproducible."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from llmos.host.adapter.data import Pair, bench_module, build_dataset, data_sha256, held_out_check
from llmos.host.adapter.errors import AdapterError
from llmos.kernel.applang import check
from llmos.kernel.applang.repair import compact

GOOD = {"request": "a tally counter for birds I see",
        "app": {"title": "Birds", "state": [{"name": "birds", "type": "number", "init": "0"}],
                "view": [{"kind": "button", "label": "Bird", "do": [{"set": "birds", "to": "birds + 1"}]},
                         {"kind": "text", "label": "Seen", "value": "birds"}]}}
BAD = {"request": "a counter of cups of tea",
       "app": {"title": "Tea", "state": [{"name": "cups", "type": "number"}],
               "view": [{"kind": "text", "label": "Cups", "value": "cupz + 1"}]}}
UNSUPPORTED = {"request": "read my email", "app": {"unsupported": "it needs your email account"}}


def library(folder: Path, **files: list[dict[str, object]]) -> Path:
    folder.mkdir(exist_ok=True)
    for name, entries in files.items():
        (folder / f"{name}.json").write_text(json.dumps(entries), encoding="utf-8")
    return folder


def never(request: str) -> bool:
    return False


def test_a_bad_example_is_refused_before_training_with_its_location(tmp_path: Path) -> None:
    folder = library(tmp_path / "examples", trackers=[GOOD, BAD])
    with pytest.raises(AdapterError) as refused:
        build_dataset(folder, near_copy=never)
    message = str(refused.value)
    assert "trackers.json[1]" in message and str(folder) in message
    assert "view[0].value" in message and "cupz" in message


def test_a_malformed_example_file_is_refused_with_its_name(tmp_path: Path) -> None:
    folder = tmp_path / "examples"
    folder.mkdir()
    (folder / "lists.json").write_text("[{", encoding="utf-8")
    with pytest.raises(AdapterError, match=r"lists\.json: not JSON"):
        build_dataset(folder, near_copy=never)


def test_pairs_are_the_compact_document_and_a_newline(tmp_path: Path) -> None:
    folder = library(tmp_path / "examples", trackers=[GOOD], unsupported=[UNSUPPORTED])
    dataset = build_dataset(folder, variations=2, near_copy=never)
    assert dataset.examples == 1  # the unsupported answer makes no pair
    assert [pair.paraphrased for pair in dataset.pairs] == [False, True, True]
    assert {pair.answer for pair in dataset.pairs} == {compact(GOOD["app"]) + "\n"}  # type: ignore[arg-type]
    assert dataset.pairs[0].request == GOOD["request"] and dataset.pairs[0].source == "trackers.json[0]"
    document, errors = check(dataset.pairs[1].answer)
    assert document is not None and errors == []


def test_the_data_digest_is_reproducible_and_follows_the_pairs(tmp_path: Path) -> None:
    folder = library(tmp_path / "examples", trackers=[GOOD])
    one = build_dataset(folder, seed=0, near_copy=never)
    assert one.sha256 == build_dataset(folder, seed=0, near_copy=never).sha256
    assert one.sha256 != build_dataset(folder, seed=7, near_copy=never).sha256
    assert data_sha256([Pair("a", "b\n", "x")]) != data_sha256([Pair("a", "c\n", "x")])


def test_near_copies_of_benchmark_prompts_are_dropped(tmp_path: Path) -> None:
    prompt = bench_module().load_cases()[0].prompt
    copied = {**GOOD, "request": prompt}
    folder = library(tmp_path / "examples", trackers=[copied, {**GOOD, "request": "count birds"}])
    dataset = build_dataset(folder, variations=1, near_copy=held_out_check())
    assert prompt in dataset.dropped
    assert all(pair.request != prompt for pair in dataset.pairs) and dataset.pairs


def test_no_training_request_of_the_library_is_a_near_copy_of_a_benchmark_prompt() -> None:
    bench = bench_module()
    prompts = [case.prompt for case in bench.load_cases()]
    dataset = build_dataset(variations=2, seed=0)
    assert dataset.examples >= 200 and len(dataset.pairs) > 2 * dataset.examples
    close = [(pair.request, prompt) for pair in dataset.pairs for prompt in prompts
             if bench.overlap(pair.request, prompt) > bench.NEAR_COPY]
    assert close == []
