"""`llmos gateway ...` through argparse in-process, against the real model and a real ledger."""

from __future__ import annotations

import argparse
import json

import pytest

from llmos.kernel.gateway import cli


def run(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="llmos")
    cli.add_commands(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(argv)
    return args.run(args)


def test_generate_audit_usage(local_model, capsys: pytest.CaptureFixture[str]) -> None:
    assert run(["gateway", "generate", "flip a coin", "--max-tokens", "40", "--json",
                "--app", "coin"]) == 0
    result = json.loads(capsys.readouterr().out)
    assert result["provider"] == "local"
    assert "ui:window" in [c["scope"] for c in result["manifest"]["capabilities"]]
    assert run(["gateway", "generate", "   "]) == 2
    assert "refused: the request is empty" in capsys.readouterr().err
    assert run(["gateway", "audit", "-n", "5"]) == 0
    lines = capsys.readouterr().out.strip().splitlines()
    assert len(lines) == 2 and "ok" in lines[0] and "refused:bad-prompt" in lines[1]
    assert run(["gateway", "usage"]) == 0
    out = capsys.readouterr().out
    assert "coin" in out and f"{result['usage']['prompt_tokens'] + result['usage']['output_tokens']}" in out
