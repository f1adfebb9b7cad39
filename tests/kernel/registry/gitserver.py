"""Real git servers on 127.0.0.1 for the sync tests: Debian's `git daemon` (git://) and `git
http-backend` behind githttp.py (smart HTTP), plus helpers that play a hostile server by writing
commits straight into its bare repository with dulwich."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from dulwich.object_store import commit_tree_changes, tree_lookup_path
from dulwich.objects import Blob, Commit
from dulwich.repo import Repo
from waiting import wait_for

from llmos.kernel.registry import Registry
from llmos.kernel.registry.history import make_commit

HERE = Path(__file__).resolve().parent
BRANCH = b"refs/heads/main"


def bare(path: Path) -> Path:
    """An empty bare repository that accepts pushes over every transport."""
    subprocess.run(["git", "init", "-q", "--bare", "-b", "main", str(path)], check=True)
    subprocess.run(["git", "--git-dir", str(path), "config", "http.receivepack", "true"], check=True)
    return path


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _answers(port: int, proc: subprocess.Popen[bytes]) -> bool:
    if proc.poll() is not None:
        raise AssertionError(f"the server exited with {proc.returncode} before listening")
    try:
        socket.create_connection(("127.0.0.1", port), timeout=1).close()
    except OSError:
        return False
    return True


@contextmanager
def git_daemon(root: Path, port: int | None = None) -> Iterator[str]:
    """`git daemon` serving every repository under `root`, push enabled; yields git://127.0.0.1:PORT."""
    port = port or free_port()
    proc = subprocess.Popen(["git", "daemon", "--reuseaddr", f"--base-path={root}", "--export-all",
                             "--enable=receive-pack", "--informative-errors", "--listen=127.0.0.1",
                             f"--port={port}", str(root)], stderr=subprocess.DEVNULL)
    try:
        wait_for(lambda: _answers(port, proc), what=f"git daemon on port {port}")
        yield f"git://127.0.0.1:{port}"
    finally:
        stop(proc)


@contextmanager
def git_http(root: Path) -> Iterator[str]:
    """`git http-backend` behind Python's http.server; yields http://127.0.0.1:PORT."""
    proc = subprocess.Popen([sys.executable, str(HERE / "githttp.py"), str(root)], stdout=subprocess.PIPE,
                            text=True, env={**os.environ, "PYTHONUNBUFFERED": "1"})
    try:
        port = int(proc.stdout.readline())  # printed once the socket listens
        yield f"http://127.0.0.1:{port}"
    finally:
        stop(proc)
        proc.stdout.close()


def stop(proc: subprocess.Popen) -> None:
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def server_commit(repo_path: Path, files: dict[bytes, bytes | None], *, rewrite: bool = False,
                  message: str = "edited on the server") -> bytes:
    """Commit `files` (path -> content, None deletes) onto the server's main branch, as a hostile or
    careless server could. With `rewrite`, the commit has no parent: a force-pushed new history."""
    with Repo(str(repo_path)) as repo:
        head = repo.refs[BRANCH]
        changes = []
        for path, content in files.items():
            if content is None:
                changes.append((path, None, None))
            else:
                blob = Blob.from_string(content)
                repo.object_store.add_object(blob)
                changes.append((path, 0o100644, blob.id))
        tree = commit_tree_changes(repo.object_store, repo[head].tree, changes)
        commit: Commit = make_commit(tree, [] if rewrite else [head], message)
        repo.object_store.add_object(commit)
        repo.refs[BRANCH] = commit.id
        return commit.id


def server_file(repo_path: Path, path: bytes) -> bytes:
    with Repo(str(repo_path)) as repo:
        _, sha = tree_lookup_path(repo.__getitem__, repo[repo.refs[BRANCH]].tree, path)
        return repo[sha].data


def state_of(registry: Registry) -> tuple[object, ...]:
    """Everything a refused pull must leave as it was: refs, index rows, and git's object files."""
    objects = registry.root / "registry.git" / "objects"
    return (registry.history.repo.refs.as_dict(), registry.index.blobs(), len(registry),
            registry.index.synced_head, sorted(p.relative_to(objects) for p in objects.rglob("*")
                                               if p.is_file()))


def publisher_pem(registry: Registry, path: Path) -> Path:
    path.write_bytes(registry.key.public_pem())
    return path
