"""Property-based tests (hypothesis) for the parsers on the sandbox's boundaries, where the input is
chosen by app code or by a compromised app host: the host's tree parser, the transpiler, the IPC
line reader the kernel serves app hosts with, and the manager's status reader. Each is bounded in
examples and needs no deadline, so it runs in CI in seconds."""

from __future__ import annotations

import asyncio
import json
import shutil
import tempfile
from pathlib import Path
from typing import Any

import quickjs_rs
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from llmos.ipc import Client, ErrorCode, RpcError, Server, rpc
from llmos.ipc import handlers as ipc_handlers
from llmos.kernel.sandbox.status import MAX_LINE, read_statuses
from llmos.kernel.sandbox.transpile import TranspileError, transpile
from llmos.kernel.sandbox.treecheck import TreeError, TreeLimits, check_tree, parse_answer

BOUNDED = settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
LIMITS = TreeLimits()

# ---- the host's tree parser ------------------------------------------------------------------

WIDGETS = st.sampled_from(["Window", "Text", "Button", "Column", "Row", "Canvas"])
SCALARS = st.one_of(st.none(), st.booleans(), st.integers(-10**6, 10**6),
                    st.floats(allow_nan=False, allow_infinity=False), st.text(max_size=20))
VALUES_IN_PROPS = st.recursive(
    SCALARS,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=5), inner, max_size=4),
    max_leaves=10)
PROPS = st.dictionaries(st.text(max_size=8), VALUES_IN_PROPS, max_size=4)
NODES = st.recursive(
    st.builds(lambda t, p: {"type": t, "props": p, "children": []}, WIDGETS, PROPS),
    lambda inner: st.builds(lambda t, p, c: {"type": t, "props": p, "children": c}, WIDGETS, PROPS,
                            st.lists(st.one_of(inner, st.text(max_size=10), st.integers(0, 99)), max_size=5)),
    max_leaves=30)
JSONISH = st.text(alphabet='[]{}",:0123456789.-eE\\ntrufalsNI ', max_size=400)


@BOUNDED
@given(st.one_of(st.text(max_size=400), JSONISH, st.binary(max_size=200).map(lambda b: b.decode("latin-1"))))
def test_any_text_is_an_answer_or_a_tree_error(text: str) -> None:
    try:
        answer = parse_answer(text, LIMITS)
    except TreeError as error:
        assert str(error)
    else:
        assert answer.tree is None or isinstance(answer.tree, dict)


@BOUNDED
@given(NODES, st.one_of(st.none(), st.integers(0, 10**6), st.floats(0, 1e6)))
def test_a_valid_tree_comes_back_unchanged(tree: dict[str, Any], wake: float | None) -> None:
    answer = parse_answer(json.dumps({"tree": tree, "next": wake}), LIMITS)
    assert answer.tree == tree and answer.next_ms == wake
    assert check_tree(tree, LIMITS) >= 1


@BOUNDED
@given(st.integers(0, 3000), st.sampled_from(["children", "props"]))
def test_nesting_of_any_depth_is_accepted_or_refused_never_a_recursion_error(depth: int, where: str) -> None:
    """A chain of nodes, or of arrays in a prop, `depth` deep: nodes may nest 64 deep (as on the JS
    side), JSON as a whole LIMITS.max_nesting deep."""
    if where == "children":
        text = '{"tree":' + '{"type":"Column","children":[' * depth + '{"type":"Text"}' + "]}" * depth + "}"
        allowed = depth <= LIMITS.max_depth
    else:
        text = '{"tree":{"type":"Canvas","props":{"commands":' + "[" * (depth + 1) + "]" * (depth + 1) + "}}}"
        allowed = depth + 4 <= LIMITS.max_nesting
    try:
        parse_answer(text, LIMITS)
    except TreeError as error:
        assert "deeper than 64" in str(error) and not allowed
    else:
        assert allowed


# ---- the transpiler --------------------------------------------------------------------------

NAMES = st.sampled_from(["a", "b", "total", "count", "x1"])
TYPES = st.sampled_from(["number", "string", "boolean", "number[]", "string | null", "Array<number>",
                         "{ a: number; b?: string }", "Record<string, number>", "(n: number) => string"])
VALUES = st.sampled_from(["1", "'s'", "true", "[1, 2]", "null", "{ a: 1 }", "(n: number) => String(n)"])


@st.composite
def statement(draw: st.DrawFn, i: int) -> str:
    """One typed statement; `i` keeps its names apart from the other statements'."""
    n, t, v = draw(NAMES), draw(TYPES), draw(VALUES)
    return draw(st.sampled_from([
        f"let {n}{i}: {t} = {v} as any;",
        f"const {n}{i} = ({v}) as unknown as {t};",
        f"function f{i}<T>({n}: {t}, rest?: T): {t} {{ return {n}; }}",
        f"interface I{i} {{ {n}: {t};\n  m{i}(): void }}",
        f"type T{i} = {t};",
        f"class C{i} {{ private {n}: {t} = {v} as any;\n  get g(): {t} {{ return this.{n}; }} }}",
        f"declare const d{i}: {t};",
        f"const e{i} = [{v}]!;",
        f"// {t} in a comment\nconst s{i} = '{t}';",
    ]))


BODIES = st.integers(0, 8).flatmap(lambda n: st.tuples(*[statement(i) for i in range(n)]))
PROGRAMS = BODIES.map(lambda body: "import { ui } from '@llm-os/sdk';\n" + "\n".join(body)
                      + "\nexport default function App(): any { return ui.Text({}, 'x'); }\n")
ARBITRARY = st.one_of(st.text(max_size=300), BODIES.map("\n".join))

_QJS: list[Any] = []


def compiles(code: str) -> bool:
    """Whether QuickJS accepts `code` (a function expression: evaluating it only compiles)."""
    if not _QJS:
        runtime = quickjs_rs.Runtime(memory_limit=16 * 1024 * 1024)
        _QJS.extend([runtime, runtime.new_context(timeout=2.0)])
    try:
        _QJS[1].eval_handle(code, filename="fuzz.js").dispose()
    except quickjs_rs.JSError:
        return False
    return True


@BOUNDED
@given(PROGRAMS)
def test_typed_programs_strip_to_javascript_on_the_same_lines(source: str) -> None:
    result = transpile(source)
    assert compiles(result.code), result.code
    assert result.code.count("\n") == source.count("\n") + 2  # the wrapper's own two lines


@BOUNDED
@given(ARBITRARY)
def test_any_text_transpiles_or_gets_a_located_error(source: str) -> None:
    try:
        transpile(source, "fuzz.ts")
    except TranspileError as error:
        assert error.line >= 1 and error.column >= 1 and str(error).startswith("fuzz.ts:")


# ---- the IPC line reader (what the kernel serves app hosts with) -----------------------------

class Echo:
    @rpc("echo")
    async def rpc_echo(self, _connection: Any, params: dict[str, Any]) -> Any:
        return params.get("value")

    @rpc("fail")
    async def rpc_fail(self, _connection: Any, params: dict[str, Any]) -> Any:
        raise RpcError(ErrorCode.DENIED, "no")


LINES = st.lists(st.one_of(
    st.binary(max_size=120).map(lambda b: b.replace(b"\n", b" ")),
    st.builds(lambda n, c: c * n, st.integers(0, 20_000), st.sampled_from([b"[", b"{\"a\":"])),
    st.text(max_size=80).map(lambda t: t.replace("\n", " ").encode()),
    st.builds(lambda m, p, i: json.dumps({"id": i, "method": m, "params": p}).encode(),
              st.sampled_from(["echo", "fail", "nope", ""]),
              st.one_of(st.dictionaries(st.text(max_size=5), SCALARS, max_size=3), SCALARS),
              st.one_of(st.integers(), st.text(max_size=5), st.none())),
), max_size=12)


async def _served(lines: list[bytes]) -> tuple[list[dict[str, Any]], Any]:
    directory = Path(tempfile.mkdtemp(prefix="llf"))
    server = Server(ipc_handlers(Echo()), mode=0o600)
    try:
        await server.start(directory / "s.sock")
        reader, writer = await asyncio.open_unix_connection(str(directory / "s.sock"))
        writer.write(b"".join(line + b"\n" for line in lines))
        writer.write_eof()
        replies = [json.loads(line) for line in (await asyncio.wait_for(reader.read(), 10)).splitlines()]
        writer.close()
        client = await Client.connect(directory / "s.sock")  # the server still serves
        try:
            after = await client.call("echo", timeout=5, value=[1, "two"])
        finally:
            await client.close()
        return replies, after
    finally:
        await server.close()
        shutil.rmtree(directory, ignore_errors=True)


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(LINES)
def test_the_server_answers_every_line_and_survives_any_input(lines: list[bytes]) -> None:
    replies, after = asyncio.run(_served(lines))
    assert len(replies) == len(lines)
    for reply in replies:
        assert isinstance(reply, dict) and "id" in reply
        assert ("result" in reply) != ("error" in reply)
        if "error" in reply:
            assert reply["error"]["code"] in {code.value for code in ErrorCode}
    assert after == [1, "two"]


async def _client_against(lines: list[bytes]) -> Any:
    """A peer that sends `lines` then the answer to request 1; the client's call must settle."""
    directory = Path(tempfile.mkdtemp(prefix="llf"))

    async def peer(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.readline()
        writer.write(b"".join(line + b"\n" for line in lines) + b'{"id": 1, "result": "ok"}\n')
        await writer.drain()
        await reader.read()
        writer.close()
    server = await asyncio.start_unix_server(peer, path=str(directory / "p.sock"))
    try:
        client = await Client.connect(directory / "p.sock")
        try:
            return await client.call("anything", timeout=5)
        except (ConnectionError, RpcError) as error:
            return error
        finally:
            await client.close()
    finally:
        server.close()
        shutil.rmtree(directory, ignore_errors=True)


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(LINES)
def test_a_client_call_settles_whatever_the_peer_sends_first(lines: list[bytes]) -> None:
    outcome = asyncio.run(_client_against(lines))
    assert outcome == "ok" or isinstance(outcome, ConnectionError | RpcError)


# ---- the manager's status reader -------------------------------------------------------------

CHUNKS = st.lists(st.one_of(
    st.binary(max_size=300),
    st.builds(lambda n, c: c * n, st.integers(0, 3 * MAX_LINE), st.sampled_from([b"x", b"[", b"{", b"\n"])),
    st.builds(lambda s: json.dumps(s).encode() + b"\n",
              st.dictionaries(st.sampled_from(["status", "kind", "message"]), SCALARS, max_size=3)),
), max_size=10)


async def _statuses(chunks: list[bytes]) -> list[dict[str, Any]]:
    stream = asyncio.StreamReader()
    for chunk in chunks:
        stream.feed_data(chunk)
    stream.feed_eof()
    return [status async for status in read_statuses(stream)]


@BOUNDED
@given(CHUNKS)
def test_the_status_reader_yields_only_status_objects_and_never_fails(chunks: list[bytes]) -> None:
    for status in asyncio.run(_statuses(chunks)):
        assert isinstance(status, dict) and isinstance(status["status"], str)
        assert len(json.dumps(status)) <= MAX_LINE
