"""Property: whatever is done to a valid manifest, `validate` accepts it or refuses it
cleanly: exit 2, every problem at file:line:column with a field path, never a traceback,
never a hang (2 s per example).

Mutations work on an ordered tree of the manifest (so keys can be duplicated) written back
as YAML: drop, duplicate, retype and rename keys at every level, replace values with random
scalars (unicode, huge and non-finite numbers, YAML's special words, `${...}`), insert
unknown keys. Most examples run in process through the loader, for speed; a sample runs
through the CLI as a user would.
"""
from __future__ import annotations

import math
import os
import resource
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from portable.errors import InputError, ManifestError
from portable.manifest.loader import parse_text

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "hardening"))
from figures import record  # noqa: E402  (the hardening figures table: issue 17, item 5)

REPO = Path(__file__).resolve().parents[2]
SEEDS = sorted([*REPO.glob("examples/*/portable.yaml"), *(REPO / "tests/unit/valid").glob("*.yaml"), *REPO.glob("tests/providers/*/app/portable.yaml")])
IN_PROCESS_EXAMPLES = int(os.environ.get("PORTABLE_FUZZ_EXAMPLES", "2000"))
CLI_EXAMPLES = int(os.environ.get("PORTABLE_FUZZ_CLI_EXAMPLES", "25"))

# An ordered tree: ("map", [(key, value), ...]) | ("seq", [value, ...]) | ("raw", yaml_text) | scalar
Tree = Any


def _tree(node: yaml.Node) -> Tree:
    if isinstance(node, yaml.MappingNode):
        return ("map", [(k.value, _tree(v)) for k, v in node.value])
    if isinstance(node, yaml.SequenceNode):
        return ("seq", [_tree(v) for v in node.value])
    return ("raw", _quote(node.value) if node.style else (node.value or "null"))




def _scalar_text(value: Any) -> str:
    if isinstance(value, tuple) and value[0] == "raw":
        return str(value[1])
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return ".nan" if math.isnan(value) else (".inf" if value > 0 else "-.inf") if math.isinf(value) else repr(value)
    if isinstance(value, int):
        return str(value)
    if value is None:
        return "null"
    return _quote(str(value))


def _quote(text: str) -> str:
    """A YAML double-quoted scalar holding exactly `text` (any code point, escaped)."""
    out = []
    for ch in text:
        code = ord(ch)
        if ch in '"\\':
            out.append("\\" + ch)
        elif 0x20 <= code < 0x7F:
            out.append(ch)
        elif code <= 0xFFFF:
            out.append(f"\\u{code:04x}")
        else:
            out.append(f"\\U{code:08x}")
    return '"' + "".join(out) + '"'


SEED_TREES = [_tree(yaml.compose(p.read_text(encoding="utf-8"))) for p in SEEDS]


def emit(tree: Tree, indent: int = 0) -> str:
    """Block-style YAML for `tree`, one key per line, so problems have distinct lines."""
    pad = "  " * indent
    if isinstance(tree, tuple) and tree[0] == "map":
        if not tree[1]:
            return "{}"
        return "\n" + "\n".join(f"{pad}{_scalar_text(k) if not isinstance(k, str) or not k.isidentifier() else k}: {emit(v, indent + 1)}" for k, v in tree[1])
    if isinstance(tree, tuple) and tree[0] == "seq":
        if not tree[1]:
            return "[]"
        return "\n" + "\n".join(f"{pad}- {emit(v, indent + 1).lstrip(chr(10)).replace(chr(10) + '  ' * (indent + 1), chr(10) + '  ' * (indent + 1), 1)}" if not _is_block(v) else f"{pad}-{_inline_block(v, indent + 1)}" for v in tree[1])
    return _scalar_text(tree)


def _is_block(tree: Tree) -> bool:
    return isinstance(tree, tuple) and tree[0] in ("map", "seq") and bool(tree[1])


def _inline_block(tree: Tree, indent: int) -> str:
    # a block collection inside a list item: start it on the next line, indented
    return emit(tree, indent)


# values a user (or a generator gone wrong) writes
SPECIAL_WORDS = ["yes", "no", "on", "off", "~", "null", "0x1F", "0o17", "1e3", "1_000", "2024-01-01", "12:30", ".inf", "-.inf", ".nan", "", "-", "<<", "=", "@", "%"]
scalars = st.one_of(
    st.integers(min_value=-(10**40), max_value=10**40),
    st.integers(min_value=-(10**3000), max_value=10**3000),
    st.floats(allow_nan=True, allow_infinity=True),
    st.booleans(),
    st.none(),
    st.text(max_size=40),
    st.text(alphabet=st.characters(codec="utf-8", exclude_categories=("Cs",)), max_size=20),
    st.sampled_from(SPECIAL_WORDS).map(lambda w: ("raw", w or '""')),  # plain: YAML types them
    st.sampled_from(["${X}", "${X:-2}", "${X:?gone}", "${X", "$${X}", "${1BAD}", "${X:-${Y:-z}}"]).map(lambda t: ("raw", t)),
    st.text(alphabet=st.characters(min_codepoint=0xA0, exclude_categories=("Cs",)), min_size=1, max_size=8).map(lambda t: ("raw", '"' + t.replace("\\", "\\\\").replace('"', '\\"') + '"')),  # unescaped
    st.sampled_from(["a" * 5000, "9" * 400, "0." + "0" * 400 + "1", "\u202e\u200b", "web\n", "web ", "\x00"]),
)
keys = st.one_of(st.text(min_size=0, max_size=20), st.sampled_from(["image", "replicas", "ports", "env", "services", "targets", "overrides", "volumes", "health", "<<", "web", "provider", "1", "true", "null"]))
values = st.recursive(scalars, lambda inner: st.one_of(st.lists(inner, max_size=3).map(lambda v: ("seq", v)), st.lists(st.tuples(keys, inner), max_size=3).map(lambda kv: ("map", kv))), max_leaves=6)


def _collections(tree: Tree, out: list[Tree]) -> list[Tree]:
    """Every mapping and list in `tree` (mutable lists inside the tuples)."""
    if isinstance(tree, tuple) and tree[0] in ("map", "seq"):
        out.append(tree)
        for child in (v for _, v in tree[1]) if tree[0] == "map" else tree[1]:
            _collections(child, out)
    return out


def _copy(tree: Tree) -> Tree:
    if isinstance(tree, tuple) and tree[0] == "map":
        return ("map", [(k, _copy(v)) for k, v in tree[1]])
    if isinstance(tree, tuple) and tree[0] == "seq":
        return ("seq", [_copy(v) for v in tree[1]])
    return tree


@st.composite
def mutated_manifests(draw: st.DrawFn) -> str:
    tree = _copy(draw(st.sampled_from(SEED_TREES)))
    for _ in range(draw(st.integers(min_value=1, max_value=3))):
        places = _collections(tree, [])
        kind, items = draw(st.sampled_from(places))
        op = draw(st.sampled_from(["drop", "duplicate", "retype", "rename", "insert", "scalar"]))
        if not items and op != "insert":
            op = "insert"
        i = draw(st.integers(min_value=0, max_value=max(len(items) - 1, 0)))
        if op == "drop":
            del items[i]
        elif op == "duplicate":
            items.insert(i, _copy(items[i]))
        elif op == "insert":
            items.insert(i, (draw(keys), draw(values)) if kind == "map" else draw(values))
        elif op == "rename" and kind == "map":
            items[i] = (draw(keys), items[i][1])
        elif kind == "map":
            items[i] = (items[i][0], draw(values if op == "retype" else scalars))
        else:
            items[i] = draw(values if op == "retype" else scalars)
    return "# fuzzed\n" + emit(tree).lstrip("\n") + "\n"


def _check_refusal(exc: InputError, name: str) -> None:
    problems = exc.problems if isinstance(exc, ManifestError) else []
    assert problems, f"an input error without located problems: {exc}"
    for p in problems:
        if p.message.startswith("... and "):
            continue
        assert p.file == name and p.line is not None and p.column is not None, p
        yaml_level = p.message.startswith(("invalid YAML", "the YAML", "the manifest must be"))
        assert p.path or yaml_level, f"no field path: {p.render()}"


FIGURES = {"examples": 0, "accepted": 0, "refused": 0, "slowest_s": 0.0}


@settings(max_examples=IN_PROCESS_EXAMPLES, deadline=2000, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large], derandomize=True, database=None)
@given(text=mutated_manifests())
def test_mutated_manifest_is_accepted_or_refused_with_locations(text: str) -> None:
    started = time.perf_counter()
    try:
        parse_text(text, Path("fuzz.yaml"), env={})
        FIGURES["accepted"] += 1
    except InputError as exc:
        _check_refusal(exc, "fuzz.yaml")
        FIGURES["refused"] += 1
    FIGURES["examples"] += 1
    FIGURES["slowest_s"] = max(FIGURES["slowest_s"], time.perf_counter() - started)


def test_fuzz_ran_the_promised_number_of_examples() -> None:
    """Runs after the property (file order): hypothesis must not have stopped early."""
    print(f"\nmanifest fuzz: {FIGURES['examples']} examples in process, {FIGURES['accepted']} accepted, {FIGURES['refused']} refused, slowest {FIGURES['slowest_s'] * 1000:.0f} ms")
    assert FIGURES["examples"] >= IN_PROCESS_EXAMPLES
    record("bad input (validate)", fuzz_examples=FIGURES["examples"])


def test_seeds_are_valid_and_emit_round_trips(tmp_path: Path) -> None:
    assert len(SEEDS) >= 4
    for tree in SEED_TREES:
        parse_text(emit(tree).lstrip("\n") + "\n", Path("seed.yaml"), env={})  # raises if the emitter broke a seed


CLI = "from portable.cli.main import main; main()"


@settings(max_examples=CLI_EXAMPLES, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture, HealthCheck.data_too_large], derandomize=True, database=None)
@given(text=mutated_manifests())
def test_mutated_manifest_through_the_cli(text: str, tmp_path: Path) -> None:
    f = tmp_path / "portable.yaml"
    f.write_text(text, encoding="utf-8")
    # the bound is on the CPU the command spends (start-up included), not on wall time: on a
    # machine shared with other suites the wall clock measures the neighbours, not validate
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    run = subprocess.run([sys.executable, "-c", CLI, "validate", "-f", str(f)], capture_output=True, text=True, timeout=30, env={**os.environ, "PYTHONHASHSEED": "0"})
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    assert cpu < 2.0, f"validate used {cpu:.2f} s of CPU (more than 2 s)"
    assert run.returncode in (0, 2), run.stderr
    assert "Traceback" not in run.stderr and "internal error" not in run.stderr, run.stderr
    if run.returncode == 2:
        first = run.stderr.splitlines()[0]
        assert first.startswith(f"error: {f}:"), run.stderr
