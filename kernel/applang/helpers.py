"""Small TypeScript helper functions that compiled apps include when their expressions need them.

Each helper is fixed text written here, never built from model output. Names start with '_' so they
cannot collide with state names (which may not contain '_'). A helper may depend on others and on SDK
namespaces; `closure()` resolves both.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Helper:
    code: str
    needs: tuple[str, ...] = ()  # other helpers
    sdk: tuple[str, ...] = ()  # SDK namespaces the code uses


HELPERS: dict[str, Helper] = {
    "_num": Helper(
        "function _num(text: string): number {\n"
        "  const clean = String(text).trim().replace(',', '.');\n"
        "  const value = Number(clean);\n"
        "  return clean === '' || !Number.isFinite(value) ? 0 : value;\n"
        "}"),
    "_round": Helper(
        "function _round(value: number, places: number): number {\n"
        "  const scale = Math.pow(10, Math.max(0, Math.min(10, Math.round(places))));\n"
        "  return Math.round(value * scale) / scale;\n"
        "}"),
    "_sum": Helper(
        "function _sum(values: number[]): number {\n"
        "  return values.reduce((total, value) => total + (Number.isFinite(value) ? value : 0), 0);\n"
        "}"),
    "_avg": Helper(
        "function _avg(values: number[]): number {\n"
        "  return values.length === 0 ? 0 : _sum(values) / values.length;\n"
        "}", needs=("_sum",)),
    "_words": Helper(
        "function _words(text: string): number {\n"
        "  const trimmed = text.trim();\n"
        "  return trimmed === '' ? 0 : trimmed.split(/\\s+/).length;\n"
        "}"),
    "_sentences": Helper(
        "function _sentences(text: string): number {\n"
        "  return text.split(/[.!?]+/).filter((part) => part.trim() !== '').length;\n"
        "}"),
    "_letters": Helper(
        "function _letters(text: string): number {\n"
        "  return text.replace(/\\s/g, '').length;\n"
        "}"),
    "_title": Helper(
        "function _title(text: string): string {\n"
        "  return text.toLowerCase()\n"
        "    .replace(/(^|\\s)(\\S)/g, (_all, space, first) => space + first.toUpperCase());\n"
        "}"),
    "_reverse": Helper(
        "function _reverse(text: string): string {\n"
        "  return Array.from(text).reverse().join('');\n"
        "}"),
    "_hex": Helper(
        "function _hex(red: number, green: number, blue: number): string {\n"
        "  const part = (value: number) => Math.max(0, Math.min(255, Math.round(value) || 0))"
        ".toString(16).padStart(2, '0');\n"
        "  return '#' + part(red) + part(green) + part(blue);\n"
        "}"),
    "_color": Helper(
        "const _NAMED: Record<string, string> = {\n"
        "  black: '#000000', white: '#ffffff', red: '#e53935', green: '#43a047', blue: '#1e88e5',\n"
        "  yellow: '#fdd835', orange: '#fb8c00', purple: '#8e24aa', pink: '#d81b60', gray: '#9e9e9e',\n"
        "  grey: '#9e9e9e', brown: '#6d4c41',\n"
        "};\n"
        "function _color(value: string): string {\n"
        "  const text = String(value).trim().toLowerCase();\n"
        "  if (/^#([0-9a-f]{3}|[0-9a-f]{6}|[0-9a-f]{8})$/.test(text)) return text;\n"
        "  return _NAMED[text] ?? '#000000';\n"
        "}"),
    "_age": Helper(
        "function _age(date: string): number {\n"
        "  const born = clock.parseDate(date);\n"
        "  if (!Number.isFinite(born)) return 0;\n"
        "  const from = clock.parts(born);\n"
        "  const to = clock.parts(clock.now());\n"
        "  const before = to.month < from.month || (to.month === from.month && to.day < from.day);\n"
        "  return to.year - from.year - (before ? 1 : 0);\n"
        "}", sdk=("clock",)),
    "_addDays": Helper(
        "function _addDays(date: string, days: number): string {\n"
        "  const start = clock.parseDate(date);\n"
        "  if (!Number.isFinite(start)) return '';\n"
        "  return clock.format(start + Math.round(days) * 86400000 + 43200000, 'YYYY-MM-DD');\n"
        "}", sdk=("clock",)),
    "_dayName": Helper(
        "function _dayName(date: string): string {\n"
        "  const day = clock.parseDate(date);\n"
        "  return Number.isFinite(day) ? clock.format(day + 43200000, 'dddd') : '';\n"
        "}", sdk=("clock",)),
    "_nextDate": Helper(
        "function _nextDate(date: string): string {\n"
        "  const today = clock.today();\n"
        "  const monthDay = String(date).trim().slice(-5);\n"
        "  const year = Number(today.slice(0, 4));\n"
        "  const first = year + '-' + monthDay;\n"
        "  if (!/^\\d\\d-\\d\\d$/.test(monthDay) || !Number.isFinite(clock.parseDate(first))) return '';\n"
        "  return first >= today ? first : (year + 1) + '-' + monthDay;\n"
        "}", sdk=("clock",)),
    "_strokes": Helper(
        "type _Point = { x: number; y: number; c: string; w: number; s: boolean };\n"
        "function _strokes(points: _Point[]): unknown[] {\n"
        "  const commands: unknown[] = [];\n"
        "  points.forEach((point, at) => {\n"
        "    const color = _color(point.c);\n"
        "    const width = Math.max(1, Math.min(60, point.w || 4));\n"
        "    const before = at > 0 && !point.s ? points[at - 1] : null;\n"
        "    if (before) commands.push(['line', before.x, before.y, point.x, point.y, color, width]);\n"
        "    commands.push(['circle', point.x, point.y, width / 2, color, true]);\n"
        "  });\n"
        "  return commands;\n"
        "}", needs=("_color",)),
}


def closure(names: set[str]) -> list[str]:
    """The helpers `names` need, dependencies included, in a stable order."""
    wanted: set[str] = set()
    stack = list(names)
    while stack:
        name = stack.pop()
        if name not in wanted:
            wanted.add(name)
            stack.extend(HELPERS[name].needs)
    return sorted(wanted)


def sdk_of(names: list[str]) -> set[str]:
    return {namespace for name in names for namespace in HELPERS[name].sdk}
