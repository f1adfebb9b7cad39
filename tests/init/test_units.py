"""Pure parts: the service table parser, config overrides, conditions, order, the log ring, buckets."""

from __future__ import annotations

import json

from llmos.config import parse
from llmos.init import services
from llmos.init.console import Console
from llmos.init.logring import LogRing
from llmos.init.services import Ready, Service


def test_default_table_is_consistent():
    table = services.ServiceTable(list(services.DEFAULT))
    services.check_requires(table)
    assert table.problems == []
    names = [s.name for s in services.order(table.services)]
    assert names.index("udevd") < names.index("udev-display") < names.index("udev-coldplug")
    assert names.index("udev-display") < names.index("compositor") < names.index("kernel")
    # the compositor does not wait for hal (it reconnects to it), only for its display's drivers, which
    # udev loads before the rest of coldplug, and for those only once it has imported its code (it
    # awaits udev-display, init/awaited.py)
    assert table.get("compositor").requires == () and table.get("compositor").awaits == ("udev-display",)
    # what the display waits for runs first under contention: the compositor, and udevd doing coldplug
    assert table.get("udevd").cpu_weight == table.get("compositor").cpu_weight > table.get("hal").cpu_weight
    # what the shell does not need starts once the compositor is up, so they do not slow each other,
    # and growfs, which nothing waits for, once the kernel is
    for name in ("hal", "kernel"):
        assert table.get(name).after == ("compositor",), name
    assert table.get("growfs").after == ("kernel",)
    agent = table.get("agent")
    assert agent is not None and agent.requires == ("udev-coldplug",)  # its port needs virtio_console
    config = parse("")
    assert not services.condition_met(agent, config, "console=ttyS0 quiet")
    assert services.condition_met(agent, config, "console=ttyS0 llmos.agent=1")
    assert not services.condition_met(agent, config, "llmos.agent=0")
    assert table.get("hal").ready == Ready("socket", "hal")
    update = table.get("update")  # scheduled updates run only when [update] url is set
    assert update is not None and update.argv[-1] == "llmos.update.schedule"
    assert not services.condition_met(update, config, "")
    assert services.condition_met(update, parse('[update]\nurl = "https://example.com/llmos.bundle"\n'), "")


def test_replacement_file_problems_are_located(tmp_path):
    path = tmp_path / "s.json"
    path.write_text(json.dumps({"services": [
        {"name": "good", "argv": ["true"], "ready": "socket:good", "memory_max": "64M"},
        {"name": "bad ready", "argv": ["true"]},
        {"name": "x", "argv": [], "colour": "red"},
        {"name": "y", "argv": "true", "ready": "sockt:y", "memory_max": "lots", "requires": ["zz"]},
        {"name": "z", "argv": "true", "requires": "good", "awaits": [1], "ready_timeout": 1},
        {"name": "w", "argv": "true", "awaits": ["zz", "good"]},
    ]}))
    table = services.load_file(path)
    services.check_requires(table)
    text = [str(p) for p in table.problems]
    assert f"{path}: services[1].name: expected a name of [A-Za-z0-9_.-]" in text
    assert f"{path}: services[2].colour: unknown key" in text
    assert f"{path}: services[2].argv: expected a non-empty list of strings" in text
    assert any(t.startswith(f"{path}: services[3].ready: kind must be one of") for t in text)
    assert any(t.startswith(f"{path}: services[3].memory_max: expected 'max'") for t in text)
    assert "y.requires: no such service 'zz'" in text
    assert f"{path}: services[4].awaits: expected a list of service names" in text
    assert "w.awaits: no such service 'zz'" in text
    assert [s.name for s in table.services] == ["good", "y", "z", "w"]
    assert table.get("z").requires == ("good",) and table.get("z").awaits == ()
    assert table.get("w").awaits == ("good",)
    y = table.get("y")
    assert y.argv == ("/bin/sh", "-c", "true") and y.memory_max == "max" and y.requires == ()


def test_broken_replacement_file(tmp_path):
    path = tmp_path / "s.toml"
    path.write_text("[[services]\nname=")
    table = services.load_file(path)
    assert table.services == [] and str(path) in str(table.problems[0])


def test_config_overrides():
    config = parse('[services.hal]\nmemory_max = "1G"\n[services.kernel]\nenabled = false\ncolour = 1\n'
                   '[services.nope]\nenabled = false\n[services.compositor]\nmemory_max = "huge"\n')
    table = services.apply_config(services.DEFAULT, config)
    assert table.get("hal").memory_max == "1G"
    assert table.get("kernel").enabled is False
    assert table.get("compositor").memory_max == "512M"  # a bad value keeps the table's own
    text = [str(p) for p in table.problems]
    assert "services.kernel.colour: cannot be overridden" in text
    assert "services.nope: no such service" in text
    assert any(t.startswith("services.compositor.memory_max") for t in text)


def test_the_bare_chain_runs_no_services(monkeypatch):
    monkeypatch.delenv("LLMOS_SERVICES", raising=False)
    config = parse("")
    assert services.load(config, "console=ttyS0 llmos.bare=1").services == []
    assert [s.name for s in services.load(config, "console=ttyS0 llmos.bare=0").services] == \
        [s.name for s in services.DEFAULT]


def test_cycles_are_broken():
    table = services.ServiceTable([Service("a", ("x",), requires=("b",)),
                                   Service("b", ("x",), requires=("a",))])
    services.check_requires(table)
    assert any("cycle" in str(p) for p in table.problems)
    assert [s.name for s in services.order(table.services)]  # terminates


def test_a_cycle_through_awaits_is_broken_too():
    """An awaiting service waits on its pipe: awaiting what requires it would wait for ever."""
    table = services.ServiceTable([Service("a", ("x",), awaits=("b",)),
                                   Service("b", ("x",), requires=("a",)),
                                   Service("c", ("x",), awaits=("b",))])
    services.check_requires(table)
    assert [str(p) for p in table.problems if "cycle" in str(p)] == ["a.awaits: dependency cycle; ignored"]
    assert table.get("a").awaits == () and table.get("c").awaits == ("b",)
    assert [s.name for s in services.order(table.services)] == ["a", "b", "c"]


def test_a_cycle_through_after_is_broken_and_an_unknown_name_dropped():
    table = services.ServiceTable([Service("a", ("x",), after=("b", "nowhere")),
                                   Service("b", ("x",), requires=("a",))])
    services.check_requires(table)
    assert sorted(str(p) for p in table.problems) == ["a.after: dependency cycle; ignored",
                                                      "a.after: no such service 'nowhere'"]
    assert table.get("a").after == ()


def test_config_condition():
    service = Service("a", ("x",), condition="config:kiosk.app")
    assert not services.condition_met(service, parse(""), "")
    assert services.condition_met(service, parse('[kiosk]\napp = "clock"\n'), "")


def test_logring_caps_lines_and_count():
    ring = LogRing(max_lines=3, max_line=10)
    assert [line.text for line in ring.feed(b"a\nbb\r\nccc")] == ["a", "bb"]
    assert [line.text for line in ring.feed(b"c\n" + b"z" * 15 + b"\n")] == ["cccc", "z" * 9 + "…"]
    assert [line.text for line in ring.tail(10)] == ["bb", "cccc", "z" * 9 + "…"]
    assert ring.dropped == 1
    ring.feed(b"\xff\xfe no newline")
    assert [line.text for line in ring.flush()] == ["\ufffd\ufffd no new…"]
    ring.feed(b"q" * 100)  # a line that never ends is cut rather than buffered forever
    assert ring.tail(1)[0].text == "q" * 9 + "…"


def test_console_echo_is_rate_limited_and_counts_what_it_suppressed(capfd):
    console = Console(pid1=False)
    for n in range(60):
        console.echo("hal", f"line {n}")
    out = capfd.readouterr().out.splitlines()
    assert out == [f"hal: line {n}" for n in range(50)]  # the burst, then nothing
    assert console.suppressed == {"hal": 10}


def test_numbers_for_sizes_become_text_and_bad_environment_is_dropped(tmp_path):
    """A TOML/JSON integer for memory_max must reach the cgroup file as text, and a non-string environment
    value must be refused at load time, not make Popen raise in PID 1's loop."""
    path = tmp_path / "s.json"
    path.write_text(json.dumps({"services": [
        {"name": "a", "argv": ["true"], "memory_max": 268435456, "environment": {"X": 1}},
    ]}))
    table = services.load_file(path)
    service = table.get("a")
    assert service.memory_max == "268435456"
    assert service.environment == {}
    assert [p.where.rsplit(": ", 1)[-1] for p in table.problems] == ["services[0].environment"]


def test_cpu_weight_is_checked_and_what_the_display_waits_for_outweighs_the_rest():
    config = parse('[services.hal]\ncpu_weight = 50\n[services.kernel]\ncpu_weight = 0\n'
                   '[services.growfs]\ncpu_weight = "high"\n')
    table = services.apply_config(services.DEFAULT, config)
    assert table.get("hal").cpu_weight == 50
    assert table.get("kernel").cpu_weight == services.CPU_WEIGHT_DEFAULT  # 0 refused, default kept
    assert table.get("growfs").cpu_weight == 25  # its own default kept
    assert sorted(p.where for p in table.problems) == ["services.growfs.cpu_weight",
                                                       "services.kernel.cpu_weight"]
    weights = {service.name: service.cpu_weight for service in services.DEFAULT}
    first = ("compositor", "udevd")
    assert min(weights[name] for name in first) > max(w for name, w in weights.items() if name not in first)
