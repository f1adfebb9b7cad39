"""What code provides to other apps (kernel/analysis/provides.py): literal names at the top level only,
under whatever name `apps` was imported as; nothing else counts."""

from __future__ import annotations

from llmos.kernel.analysis.provides import MAX_ABOUT, Provided, provided_functions


def test_top_level_literal_names_are_read_with_their_descriptions() -> None:
    code = ("import { ui, apps as a } from '@llm-os/sdk';\n"
            "a.provide('convert', (x: any) => x, 'convert({value}) -> number');\n"
            "a.provide(`plain`, () => 1);\n"
            "a.provide('convert', () => 2, 'a second convert is not a second function');\n"
            "a.provide(computed, () => 3);\n"
            "a.provide('not a name', () => 4);\n"
            "a.provide('long', () => 5, '" + "x" * 900 + "');\n"
            "function later() { a.provide('inside', () => 6); }\n"
            "export default function App() { return ui.Window({ title: 't' }, []); }\n")
    assert provided_functions(code) == (Provided("convert", "convert({value}) -> number"), Provided("plain"),
                                        Provided("long", "x" * MAX_ABOUT))


def test_only_the_sdk_apps_namespace_counts() -> None:
    assert provided_functions("const apps = { provide() {} };\napps.provide('fake', () => 1);\n") == ()
    assert provided_functions("import { bus } from '@llm-os/sdk';\nbus.provide('fake', () => 1);\n") == ()
    assert provided_functions("import { apps } from 'elsewhere';\napps.provide('fake', () => 1);\n") == ()
