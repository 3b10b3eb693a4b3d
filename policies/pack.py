"""Policy packs: declarative, versioned TOML files, loaded and validated strictly.

A pack that is not exactly right is refused with `PackError` naming the file, the line and the
reason; nothing from a refused pack is ever used. The schema (see policies/packs/*.toml):

    id, version ("MAJOR.MINOR.PATCH"), title, [description]
    [classes.<name>]  entities = [...], keep_inside = bool, [description]
    [[rules]]         id, action = allow|redact|block, citation, [style], [restore], [description]
    [rules.when]      zone, purpose, classes, direction (each a name, a list of names, or "any")

`style` (redact only) is "placeholder" (default) or "mask"; `restore = true` (placeholder style
only) lets the answer's placeholders be put back before it reaches the client.
Egress requirement: for a class with keep_inside = true, every purpose must meet a redact or block
rule for prompts to the external zone, and no rule may allow it there.
"""
from __future__ import annotations

import hashlib
import re
import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from policies.vocabulary import ACTIONS, DIRECTIONS, ENTITY_TYPES, PURPOSES, ZONES

STYLES: tuple[str, ...] = ("placeholder", "mask")
ANY = "any"

BUNDLED_PACKS = Path(__file__).resolve().parent / "packs"

_VERSION = re.compile(r"^\d+\.\d+\.\d+$")
_NAME = re.compile(r"^[a-z][a-z0-9_-]*$")
_PACK_KEYS = {"id": True, "version": True, "title": True, "description": False, "classes": True, "rules": True}
_CLASS_KEYS = {"entities": True, "keep_inside": True, "description": False}
_RULE_KEYS = {"id": True, "when": True, "action": True, "citation": True, "style": False, "restore": False,
              "description": False}
_WHEN_VOCABULARY = {"zone": ZONES, "purpose": PURPOSES, "direction": DIRECTIONS}


class PackError(ValueError):
    """A policy pack was refused; the message is `<file>:<line>: <reason>`."""


@dataclass(frozen=True)
class DataClass:
    """A named group of entity types; `keep_inside` classes never leave the facility in clear."""

    name: str
    entities: frozenset[str]
    keep_inside: bool


@dataclass(frozen=True)
class Rule:
    """When a finding of one of `classes` goes to `zones` for `purposes` in `directions`: `action`."""

    id: str
    zones: frozenset[str]
    purposes: frozenset[str]
    classes: tuple[str, ...]
    directions: frozenset[str]
    action: str
    citation: str
    style: str = "placeholder"
    restore: bool = False

    def applies(self, zone: str, purpose: str, direction: str) -> bool:
        return zone in self.zones and purpose in self.purposes and direction in self.directions


@dataclass(frozen=True)
class Pack:
    """One loaded, validated pack; `sha256` is the hash of the file's bytes (for the audit record)."""

    id: str
    version: str
    title: str
    classes: dict[str, DataClass]
    rules: tuple[Rule, ...]
    sha256: str
    source: str

    def classes_of(self, entity_type: str) -> list[str]:
        """Names of this pack's classes that contain `entity_type`."""
        return [c.name for c in self.classes.values() if entity_type in c.entities]


class _KeyLines:
    """Line numbers of table headers and keys in TOML source, addressed by path.

    Paths look like ("rules", 2, "when", "zone") or ("classes", "pan", "entities"); a lookup falls
    back to the nearest enclosing path that has a line.
    """

    _ARRAY_TABLE = re.compile(r"^\s*\[\[\s*([^\]]+?)\s*\]\]")
    _TABLE = re.compile(r"^\s*\[\s*([^\]]+?)\s*\]")
    _KEY = re.compile(r"^\s*([A-Za-z0-9_.\"' -]+?)\s*=")

    def __init__(self, source: str) -> None:
        self.lines: dict[tuple[Any, ...], int] = {}
        counts: dict[tuple[str, ...], int] = {}
        table: tuple[Any, ...] = ()
        for number, line in enumerate(source.splitlines(), start=1):
            if match := self._ARRAY_TABLE.match(line):
                names = self._split(match.group(1))
                counts[names] = counts.get(names, -1) + 1
                table = self._resolve(names[:-1], counts) + (names[-1], counts[names])
            elif match := self._TABLE.match(line):
                table = self._resolve(self._split(match.group(1)), counts)
            elif match := self._KEY.match(line):
                self.lines.setdefault(table + self._split(match.group(1)), number)
                continue
            else:
                continue
            self.lines.setdefault(table, number)

    @staticmethod
    def _split(dotted: str) -> tuple[str, ...]:
        return tuple(part.strip().strip("\"'") for part in dotted.split("."))

    @staticmethod
    def _resolve(names: tuple[str, ...], counts: dict[tuple[str, ...], int]) -> tuple[Any, ...]:
        """Insert the current index after each array-of-tables prefix: rules.when -> rules, 3, when."""
        path: tuple[Any, ...] = ()
        for i, name in enumerate(names):
            path += (name,)
            if names[: i + 1] in counts:
                path += (counts[names[: i + 1]],)
        return path

    def line_of(self, path: tuple[Any, ...]) -> int:
        while path:
            if path in self.lines:
                return self.lines[path]
            path = path[:-1]
        return 1


class _Validator:
    """Turns parsed TOML into a `Pack`, raising `PackError` at the first problem."""

    def __init__(self, source_name: str, text: str) -> None:
        self.source_name = source_name
        self.key_lines = _KeyLines(text)

    def fail(self, path: tuple[Any, ...], reason: str) -> PackError:
        return PackError(f"{self.source_name}:{self.key_lines.line_of(path)}: {reason}")

    def check_keys(self, table: Any, spec: dict[str, bool], path: tuple[Any, ...], what: str) -> None:
        if not isinstance(table, dict):
            raise self.fail(path, f"{what} must be a table")
        for key in table:
            if key not in spec:
                raise self.fail(path + (key,), f"unknown key {key!r} in {what} (allowed: {', '.join(spec)})")
        for key, required in spec.items():
            if required and key not in table:
                raise self.fail(path, f"{what} lacks required key {key!r}")

    def text(self, value: Any, path: tuple[Any, ...]) -> str:
        if not isinstance(value, str) or not value.strip():
            raise self.fail(path, f"{path[-1]!r} must be a non-empty string")
        return value

    def name(self, value: Any, path: tuple[Any, ...]) -> str:
        if not isinstance(value, str) or not _NAME.match(value):
            raise self.fail(path, f"{path[-1]!r} must be a lower-case name like 'phi-identity', got {value!r}")
        return value

    def names(self, value: Any, path: tuple[Any, ...]) -> list[str]:
        """A string or a non-empty list of strings, without duplicates."""
        items = [value] if isinstance(value, str) else value
        if not isinstance(items, list) or not items or not all(isinstance(v, str) for v in items):
            raise self.fail(path, f"{path[-1]!r} must be a name or a non-empty list of names")
        if len(set(items)) != len(items):
            raise self.fail(path, f"{path[-1]!r} lists a name twice")
        return items

    def pack(self, data: dict[str, Any], sha256: str) -> Pack:
        self.check_keys(data, _PACK_KEYS, (), "pack")
        pack_id = self.name(data["id"], ("id",))
        version = data["version"]
        if not isinstance(version, str) or not _VERSION.match(version):
            raise self.fail(("version",), f"version must look like '1.2.3', got {version!r}")
        title = self.text(data["title"], ("title",))
        if "description" in data:
            self.text(data["description"], ("description",))
        classes = self.classes(data["classes"])
        rules = self.rules(data["rules"], classes)
        self.check_egress(classes, rules)
        return Pack(pack_id, version, title, classes, rules, sha256, self.source_name)

    def classes(self, table: Any) -> dict[str, DataClass]:
        if not isinstance(table, dict) or not table:
            raise self.fail(("classes",), "'classes' must hold at least one [classes.<name>] table")
        classes = {}
        for class_name, body in table.items():
            path = ("classes", class_name)
            self.name(class_name, path)
            self.check_keys(body, _CLASS_KEYS, path, f"class {class_name!r}")
            entities = self.names(body["entities"], path + ("entities",))
            unknown = sorted(set(entities).difference(ENTITY_TYPES))
            if unknown:
                raise self.fail(path + ("entities",), f"class {class_name!r}: unknown entity type {unknown[0]!r}")
            if not isinstance(body["keep_inside"], bool):
                raise self.fail(path + ("keep_inside",), f"class {class_name!r}: keep_inside must be true or false")
            if "description" in body:
                self.text(body["description"], path + ("description",))
            classes[class_name] = DataClass(class_name, frozenset(entities), body["keep_inside"])
        return classes

    def rules(self, array: Any, classes: dict[str, DataClass]) -> tuple[Rule, ...]:
        if not isinstance(array, list) or not array:
            raise self.fail(("rules",), "'rules' must hold at least one [[rules]] table")
        rules: list[Rule] = []
        for index, body in enumerate(array):
            path = ("rules", index)
            named = isinstance(body, dict) and isinstance(body.get("id"), str)
            self.check_keys(body, _RULE_KEYS, path, f"rule {body['id']!r}" if named else f"rule #{index + 1}")
            rule_id = self.name(body["id"], path + ("id",))
            if any(r.id == rule_id for r in rules):
                raise self.fail(path + ("id",), f"duplicate rule id {rule_id!r}")
            what = f"rule {rule_id!r}"
            when = body["when"]
            self.check_keys(when, {"zone": True, "purpose": True, "classes": True, "direction": True},
                            path + ("when",), f"'when' of {what}")
            scopes = {key: self.scope(when[key], vocabulary, path + ("when", key), what)
                      for key, vocabulary in _WHEN_VOCABULARY.items()}
            rule_classes = self.names(when["classes"], path + ("when", "classes"))
            for class_name in rule_classes:
                if class_name not in classes:
                    raise self.fail(path + ("when", "classes"), f"{what} names undefined class {class_name!r}")
            action = body["action"]
            if action not in ACTIONS:
                raise self.fail(path + ("action",), f"{what}: unknown action {action!r} (allowed: {', '.join(ACTIONS)})")
            citation = self.text(body["citation"], path + ("citation",))
            style, restore = self.redaction(body, action, path, what)
            if "description" in body:
                self.text(body["description"], path + ("description",))
            rules.append(Rule(rule_id, scopes["zone"], scopes["purpose"], tuple(rule_classes), scopes["direction"],
                              action, citation, style, restore))
        return tuple(rules)

    def scope(self, value: Any, vocabulary: tuple[str, ...], path: tuple[Any, ...], what: str) -> frozenset[str]:
        items = self.names(value, path)
        if items == [ANY]:
            return frozenset(vocabulary)
        for item in items:
            if item not in vocabulary:
                raise self.fail(path, f"{what}: unknown {path[-1]} {item!r} (allowed: {', '.join(vocabulary)}, any)")
        return frozenset(items)

    def redaction(self, body: dict[str, Any], action: str, path: tuple[Any, ...], what: str) -> tuple[str, bool]:
        style, restore = body.get("style", "placeholder"), body.get("restore", False)
        if action != "redact" and ("style" in body or "restore" in body):
            key = "style" if "style" in body else "restore"
            raise self.fail(path + (key,), f"{what}: {key!r} is only meaningful for action 'redact'")
        if style not in STYLES:
            raise self.fail(path + ("style",), f"{what}: unknown style {style!r} (allowed: {', '.join(STYLES)})")
        if not isinstance(restore, bool):
            raise self.fail(path + ("restore",), f"{what}: restore must be true or false")
        if restore and style != "placeholder":
            raise self.fail(path + ("restore",), f"{what}: restore needs style 'placeholder' (a mask cannot be undone)")
        return style, restore

    def check_egress(self, classes: dict[str, DataClass], rules: tuple[Rule, ...]) -> None:
        """A keep_inside class must never reach the external zone in clear, for any purpose."""
        for data_class in classes.values():
            if not data_class.keep_inside:
                continue
            for index, rule in enumerate(rules):
                reaches_external = "external" in rule.zones and "prompt" in rule.directions
                if data_class.name in rule.classes and rule.action == "allow" and reaches_external:
                    raise self.fail(("rules", index, "action"), f"rule {rule.id!r} allows keep_inside class "
                                    f"{data_class.name!r} to the external zone")
            for purpose in PURPOSES:
                if not any(data_class.name in r.classes and r.action != "allow" and r.applies("external", purpose, "prompt")
                           for r in rules):
                    raise self.fail(("classes", data_class.name, "keep_inside"), f"keep_inside class {data_class.name!r} "
                                    f"has no redact or block rule for prompts to the external zone for purpose {purpose!r}")


def load_pack(path: str | Path) -> Pack:
    """Load and validate one pack file; raise `PackError` (file, line, reason) if it is not right."""
    path = Path(path)
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise PackError(f"{path}:0: cannot read pack ({exc.strerror})") from None
    try:
        text = raw.decode("utf-8")
        data = tomllib.loads(text)
    except UnicodeDecodeError as exc:
        line = raw[: exc.start].count(b"\n") + 1
        raise PackError(f"{path}:{line}: not UTF-8 text") from None
    except tomllib.TOMLDecodeError as exc:
        found = re.search(r"line (\d+)", str(exc))
        reason = re.sub(r"\s*\(at line \d+, column \d+\)|\s*\(at end of document\)", "", str(exc))
        line = found.group(1) if found else text.count("\n") + 1
        raise PackError(f"{path}:{line}: invalid TOML: {reason}") from None
    return _Validator(str(path), text).pack(data, hashlib.sha256(raw).hexdigest())


def load_packs(directory: str | Path | None = None) -> list[Pack]:
    """Load every `*.toml` pack in `directory` (default: the bundled packs), sorted by file name."""
    folder = Path(directory) if directory is not None else BUNDLED_PACKS
    files = sorted(folder.glob("*.toml"))
    if not files:
        raise PackError(f"{folder}:0: no policy packs (*.toml) found; refusing to run without policy")
    packs: list[Pack] = []
    for file in files:
        pack = load_pack(file)
        if any(p.id == pack.id for p in packs):
            raise PackError(f"{file}:{_KeyLines(file.read_text('utf-8')).line_of(('id',))}: "
                            f"duplicate pack id {pack.id!r}")
        packs.append(pack)
    return packs
