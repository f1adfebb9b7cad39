"""Scheduled updates, the kiosk setting ([update] in llmos.toml, docs/update.md): PID 1's `update`
service checks the URL once a minute after a boot that is not on trial and then every `check_every_s`;
a newer bundle is installed on the inactive slot by update/apply.py and, with `reboot`, booted at once,
or at the next start of `reboot_window` (llmos/dailyspan.py) when one is set.

One check (`check`, also `llmos update check`):

- never while the boot is on trial: the update it runs has not been declared good yet, and a second
  update would remove the slot it falls back to;
- "newer" means newer than every version on this machine: the running one, one installed and waiting
  for the next boot, and one that failed to boot and was rolled back (retrying that would loop:
  install, fail three times, roll back, install again);
- over HTTP the bundle's signed head decides before the rest is downloaded (update/download.py), so an
  up-to-date check costs 128 KiB; from a git remote the ref's tip is compared with the last one judged
  (schedule.json beside the state file), so an unchanged remote costs one round trip;
- a refused bundle is recorded as the state file's last result and tried again next period; a failure
  is logged and tried again; nothing here ends the service but a bad setting.

Lines starting with "!" are the ones PID 1 echoes to the console.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import datetime as dt
import json
import sys
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path

from llmos.dailyspan import DailySpan
from llmos.update import apply, download, gitfetch, keys, loader, slots, store, version
from llmos.update.bundle import BundleRefused, Manifest, Progress, check_head
from llmos.update.system import Layout

EFIVARS = Path("/sys/firmware/efi/efivars")
FIRST_CHECK_S = 60.0  # after a boot that is not on trial: the network has come up
RETRY_S = 600.0  # after the server could not be reached, sooner than a whole period
TRIAL_POLL_S = 15.0  # how often a boot on trial is looked at again
EXIT_DO_NOT_RESTART = 125  # PID 1's contract: a bad setting will not get better by restarting
MEMO_NAME = "schedule.json"

Log = Callable[[str], None]
Reboot = Callable[[], Awaitable[None]]


@dataclass(frozen=True)
class Source:
    """Where bundles come from: an http(s) URL of the bundle, or a git remote with the bundle at `path`
    in `ref`."""

    url: str
    path: str = ""
    ref: str = "main"

    @property
    def is_git(self) -> bool:
        return bool(self.path)

    def __str__(self) -> str:
        return f"{self.url} ({self.ref}:{self.path})" if self.is_git else self.url


def source_of(url: str, path: str = "", ref: str = "main") -> Source:
    """The source the settings describe; ValueError says what is wrong with them."""
    if path and not url.startswith(("git://", "http://", "https://")):
        raise ValueError(f"[update] url {url!r}: a git remote is reached over git://, http:// or https://")
    if not path and not download.is_url(url):
        raise ValueError(f"[update] url {url!r}: expected the http(s):// URL of a bundle, or set path to "
                         "read the bundle from a git remote")
    return Source(url, path, ref)


@dataclass(frozen=True)
class Outcome:
    """What one check did. result: installed, up-to-date, refused, failed, unreachable or on-trial."""

    result: str
    message: str
    version: str | None = None

    @property
    def important(self) -> bool:
        """Worth the console: anything but the quiet "up to date"."""
        return self.result != "up-to-date"

    def line(self) -> str:
        return f"{'! ' if self.important else ''}update: {self.message}"


@dataclass(frozen=True)
class Newest:
    """The newest version on this machine, and what it is (running, waiting, rolled back)."""

    version: str | None
    what: str


class UpToDate(BundleRefused):
    """The bundle is not newer than what this machine has: not a refusal worth recording."""

    def __init__(self, manifest: Manifest, newest: Newest) -> None:
        self.detail = f"the bundle is version {manifest.os_version}; this machine has {newest.version} " \
                      f"({newest.what})"
        super().__init__("version", self.detail)
        self.manifest = manifest


def on_trial(esp: Path, efivars: Path = EFIVARS) -> str | None:
    """The counting entry this boot came from while it is not yet blessed; None when the boot is not on
    trial. An ESP that cannot be read counts as on trial: not knowing is no reason to update."""
    counted = loader.boot_count_path(efivars)
    if counted is None:
        return None
    relative = counted.replace("\\", "/").lstrip("/")
    if not (esp / loader.ENTRIES_DIR).is_dir() or (esp / relative).exists():
        return relative
    return None


def newest_on_machine(layout: Layout) -> Newest:
    """The highest of the running version and every version a loader entry names."""
    running = layout.running_version or slots.load_state(layout.state_path).slot(layout.active).version
    found: list[Newest] = [Newest(running, "running")] if running else []
    for entry in loader.entries(layout.esp):
        if not version.valid(entry.os_version):
            continue
        if entry.slot == layout.active:
            what = "running"
        elif entry.name.bad:
            what = f"it failed to boot from slot {entry.slot} and was rolled back"
        elif entry.name.counting:
            what = f"installed on slot {entry.slot}, it starts at the next boot"
        else:
            what = f"on slot {entry.slot}"
        found.append(Newest(entry.os_version, what))
    newest = Newest(None, "no version known")
    for candidate in found:
        assert candidate.version is not None
        if newest.version is None or version.compare(candidate.version, newest.version) > 0:
            newest = candidate
    return newest


def _judge(layout: Layout, newest: Newest) -> Callable[[bytes], Manifest | None]:
    """The head check: signature, key, architecture and size by bundle.check_head, then newer than
    everything here (UpToDate otherwise)."""
    public = keys.load_public(layout.public_key)

    def judge(head: bytes) -> Manifest | None:
        manifest = check_head(head, public, layout.arch, layout.max_bytes)
        if manifest is not None and newest.version is not None \
                and not version.newer(manifest.os_version, newest.version):
            raise UpToDate(manifest, newest)
        return manifest

    return judge


@dataclass(frozen=True)
class Memo:
    """The git tip judged last and the version its bundle has (schedule.json): an unchanged remote is
    not fetched again while that version is not newer than this machine's."""

    source: str
    tip: str
    version: str

    @staticmethod
    def load(path: Path) -> Memo | None:
        try:
            return Memo(**json.loads(path.read_text(encoding="utf-8")))
        except (OSError, ValueError, TypeError):
            return None

    def save(self, path: Path) -> None:
        from llmos.update import atomic

        atomic.write_bytes(path, json.dumps(dataclasses.asdict(self), sort_keys=True).encode() + b"\n")


def _fetch_git(source: Source, layout: Layout, newest: Newest, judge: Callable[[bytes], Manifest | None],
               progress: Progress) -> Path | None:
    """The bundle from the git remote in a temporary file, its head judged; None: the remote's tip is
    the one judged before and its version is not newer."""
    memo_path = layout.work_dir / MEMO_NAME
    memo = Memo.load(memo_path)

    def unchanged(tip: gitfetch.Tip) -> bool:
        return memo is not None and memo.source == str(source) and memo.tip == tip.object_id \
            and newest.version is not None and not version.newer(memo.version, newest.version)

    download.remove_stale(layout.work_dir)
    fetched = gitfetch.fetch_file(source.url, source.ref, source.path, layout.work_dir,
                                  max_bytes=layout.max_bytes, progress=progress, skip=unchanged)
    if fetched.file is None:
        return None
    try:
        with fetched.file.open("rb") as file:
            head = file.read(download.HEAD_BYTES)
        try:
            manifest = judge(head)
        except UpToDate as current:
            Memo(str(source), fetched.tip.object_id, current.manifest.os_version).save(memo_path)
            raise
        if manifest is not None:
            Memo(str(source), fetched.tip.object_id, manifest.os_version).save(memo_path)
    except BaseException:
        fetched.file.unlink(missing_ok=True)
        raise
    return fetched.file


def _named(error: Exception, fetched: Path) -> str:
    """The error without the temporary file's name: the line already says where the bundle came from."""
    return str(error).replace(f"{fetched}: ", "")


def check(source: Source, layout: Layout, *, progress: Progress, efivars: Path = EFIVARS) -> Outcome:
    """One check: fetch, judge, install. Never raises for what a server, a bundle or a slot does."""
    trial = on_trial(layout.esp, efivars)
    if trial is not None:
        return Outcome("on-trial", f"this boot is on trial ({trial}); updates wait until it is declared good")
    newest = newest_on_machine(layout)
    layout = dataclasses.replace(layout, running_version=newest.version)
    fetched: Path | None = None
    try:
        try:
            judge = _judge(layout, newest)
            if source.is_git:
                fetched = _fetch_git(source, layout, newest, judge, progress)
                if fetched is None:
                    return Outcome("up-to-date", f"up to date: {source} is unchanged; this machine has "
                                                 f"{newest.version} ({newest.what})", newest.version)
            else:
                fetched = download.download(source.url, layout.work_dir, max_bytes=layout.max_bytes,
                                            progress=progress, check_head=judge)
        except UpToDate as current:
            return Outcome("up-to-date", f"up to date: {source}: {current.detail}",
                           current.manifest.os_version)
        except (BundleRefused, keys.KeyFileError) as error:  # refused on its head: apply never saw it
            slots.record_result(layout.state_path, "refused", None, None, f"{source}: {error}")
            return Outcome("refused", f"{source}: {error}; nothing was written, tried again next period")
        except (download.DownloadError, gitfetch.GitSourceError) as error:
            return Outcome("unreachable", f"{error}; tried again in a while")
        try:
            result = apply.apply(fetched, layout, progress=progress)
        # recorded by apply:
        except (BundleRefused, keys.KeyFileError, slots.SlotRefused, store.StoreRefused) as error:
            return Outcome("refused", f"{source}: {_named(error, fetched)}; nothing was written, tried "
                                      "again next period")
        except (apply.ApplyError, slots.SlotWriteError) as error:  # recorded by apply
            return Outcome("failed", f"{source}: {_named(error, fetched)}; tried again next period")
    except OSError as error:
        return Outcome("failed", f"{source}: {type(error).__name__}: {error}; tried again next period")
    finally:
        if fetched is not None:
            fetched.unlink(missing_ok=True)
    return Outcome("installed", f"installed {result.manifest.os_version} from {source} on slot "
                                f"{result.slot}: boot entry {result.entry.path.name}, "
                                f"{result.entry.name.tries_left} tries", result.manifest.os_version)


async def ask_init_to_reboot() -> None:
    """`llmos reboot`: PID 1 stops every service and reboots."""
    from llmos import ipc, paths

    client = await ipc.Client.connect(paths.socket_path("init"))
    try:
        await client.call("reboot", timeout=30.0)
    finally:
        await client.close()


async def run(source: Source, layout: Callable[[], Layout], *, every_s: float, reboot: bool,
              log: Log, progress: Progress, efivars: Path = EFIVARS, first_s: float = FIRST_CHECK_S,
              retry_s: float = RETRY_S, trial_poll_s: float = TRIAL_POLL_S,
              reboot_now: Reboot = ask_init_to_reboot, checks: int | None = None,
              window: DailySpan | None = None,
              now: Callable[[], dt.datetime] = lambda: dt.datetime.now().astimezone()) -> int:
    """The service's loop: a check `first_s` after start, then every `every_s`; returns 0 once it has
    asked PID 1 to reboot into an update (or after `checks` checks, for tests). With a `window`, the
    reboot waits until the window opens (by `now`, the local time)."""
    log(f"update: checking {source} every {every_s:g} s, first in {first_s:g} s")
    await asyncio.sleep(first_s)
    done, waiting = 0, False
    while True:
        try:
            outcome = check(source, layout(), progress=progress, efivars=efivars)
        except Exception as error:  # a bug must not become a crash loop: logged, tried again
            outcome = Outcome("failed", f"the check failed: {type(error).__name__}: {error}")
        if outcome.result == "on-trial":
            if not waiting:
                log(outcome.line())
            waiting = True
            await asyncio.sleep(trial_poll_s)
            continue
        waiting = False
        log(outcome.line())
        done += 1
        if outcome.result == "installed" and reboot:
            wait = window.wait_s(now()) if window is not None else 0.0
            if wait > 0:
                at = (now() + dt.timedelta(seconds=wait)).strftime("%H:%M")
                log(f"! update: {outcome.version} is installed; rebooting at {at}, when the reboot window "
                    f"{window} opens")
                await asyncio.sleep(wait)
            log(f"! update: rebooting into {outcome.version}")
            try:
                await reboot_now()
                return 0
            except Exception as error:  # no init to ask (a container), or it is shutting down already
                log(f"! update: init did not take the reboot ({type(error).__name__}: {error}); "
                    f"{outcome.version} starts at the next boot")
        if checks is not None and done >= checks:
            return 0
        await asyncio.sleep(retry_s if outcome.result == "unreachable" else every_s)


def main() -> int:
    """PID 1's `update` service (condition config:update.url)."""
    from llmos import config
    from llmos.progress import ConsoleProgress
    from llmos.update.cli import default_layout

    def log(line: str) -> None:
        print(line, flush=True)

    settings = config.load().settings.update
    try:
        source = source_of(settings.url, settings.path, settings.ref)
        window = DailySpan.parse(settings.reboot_window)
    except ValueError as error:
        log(f"! update: {error}; scheduled updates are off")
        return EXIT_DO_NOT_RESTART
    with contextlib.suppress(KeyboardInterrupt):
        return asyncio.run(run(source, default_layout, every_s=settings.check_every_s, reboot=settings.reboot,
                               log=log, progress=ConsoleProgress(sys.stdout), window=window))
    return 0


if __name__ == "__main__":
    sys.exit(main())
