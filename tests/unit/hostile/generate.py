"""Writes the hostile-manifest corpus: files that try to exhaust, crash or trick the loader.

    python tests/unit/hostile/generate.py          # rewrites tests/unit/hostile/files/

Small files are checked in (under files/, one class per name prefix) so a reader can open
them; the huge ones (50 MB, 10 MiB + 1 byte, ~9 MB of comments or keys, a million-level
nesting) are written at test time by `write_huge(directory)`, never committed.
Every file must make `portable validate -f FILE` exit 2 with one sentence on stderr.
"""
from __future__ import annotations

import random
import sys
from collections.abc import Callable
from pathlib import Path

HERE = Path(__file__).resolve().parent
FILES = HERE / "files"
HEAD = "apiVersion: portable/v1\nkind: Application\nmetadata:\n  name: hostile\n"
WEB = "services:\n  web:\n    image: nginx:1.27\n"


def _svc(extra: str) -> str:
    return HEAD + WEB + extra


def alias_bombs() -> dict[str, str]:
    """Billion laughs in several shapes: each level repeats the one below."""
    out = {}
    for width, depth in ((9, 9), (10, 10), (2, 40), (3, 20), (5, 12), (100, 3), (1000, 2)):
        lines = [f"a0: &a0 [{', '.join(['lol'] * width)}]"]
        lines += [f"a{i}: &a{i} [{', '.join([f'*a{i - 1}'] * width)}]" for i in range(1, depth)]
        out[f"alias_bomb_seq_{width}x{depth}"] = HEAD + "\n".join(lines) + f"\nservices:\n  web: {{image: x, command: *a{depth - 1}}}\n"
    lines = ["m0: &m0 {a: lol, b: lol, c: lol, d: lol, e: lol, f: lol, g: lol, h: lol}"]
    lines += [f"m{i}: &m{i} {{{', '.join(f'{k}: *m{i - 1}' for k in 'abcdefgh')}}}" for i in range(1, 9)]
    out["alias_bomb_mapping_8x9"] = HEAD + "\n".join(lines) + "\nservices:\n  web: {image: x, labels: *m8}\n"
    bomb = "\n".join(["x0: &x0 [a, a, a, a, a, a, a, a, a, a]"] + [f"x{i}: &x{i} [{', '.join([f'*x{i - 1}'] * 10)}]" for i in range(1, 8)])
    out["alias_bomb_in_override"] = HEAD + WEB + "targets:\n  prod: {provider: docker}\n" + bomb + "\noverrides:\n  prod:\n    services:\n      web: {command: *x7}\n"
    out["alias_bomb_in_target_settings"] = HEAD + WEB + bomb + "\ntargets:\n  prod: {provider: docker, host: *x7}\n"
    out["alias_bomb_as_key"] = HEAD + WEB + bomb + "\n? *x7\n: value\n"
    out["alias_bomb_in_env"] = HEAD + bomb + "\nservices:\n  web:\n    image: x\n    env: {BIG: *x7}\n"
    return out


def recursive_aliases() -> dict[str, str]:
    return {
        "alias_recursive_sequence": _svc("    command: &loop [sh, *loop]\n"),
        "alias_recursive_mapping": _svc("    labels: &loop {a: *loop}\n"),
        "alias_recursive_indirect": _svc("    env: &outer {A: [x, {B: *outer}]}\n"),
        "alias_recursive_root": "&root\napiVersion: portable/v1\nkind: Application\nself: *root\n",
        "alias_recursive_in_key": _svc("    labels: &loop {? *loop : x}\n"),
        "alias_undefined": _svc("    command: *nowhere\n"),
    }


def deep_nesting() -> dict[str, str]:
    out = {}
    for depth in (65, 100, 450, 1000, 5000):
        out[f"nesting_flow_seq_{depth}"] = _svc("    command: " + "[" * depth + "x" + "]" * depth + "\n")
    for depth in (65, 500, 3000):
        out[f"nesting_flow_map_{depth}"] = _svc("    labels: " + "{a: " * depth + "x" + "}" * depth + "\n")
    for depth in (65, 300):
        out[f"nesting_block_map_{depth}"] = _svc("    labels:\n" + "".join("  " * (i + 3) + f"k{i}:\n" for i in range(depth)) + "  " * (depth + 3) + "end: x\n")
    out["nesting_block_seq_200"] = _svc("    command:\n" + "".join("  " * (i + 3) + "-\n" for i in range(200)) + "  " * 203 + "x\n")
    out["nesting_unclosed_5000"] = _svc("    command: " + "[" * 5000 + "\n")
    return out


def tags() -> dict[str, str]:
    """Tags that construct objects in unsafe loaders, or that no manifest means."""
    values = {
        "python_object": "!!python/object:os.system {}",
        "python_object_apply": "!!python/object/apply:os.system ['echo pwned']",
        "python_object_new": "!!python/object/new:subprocess.Popen [[sh]]",
        "python_name": "!!python/name:os.system ''",
        "python_module": "!!python/module:os ''",
        "python_tuple": "!!python/tuple [a, b]",
        "python_str": "!!python/str x",
        "python_bytes": "!!python/bytes eA==",
        "binary": "!!binary aGVsbG8=",
        "set": "!!set {a, b}",
        "omap": "!!omap [a: 1]",
        "pairs": "!!pairs [a: 1]",
        "int_not_a_number": "!!int abc",
        "int_huge_digits": "!!int " + "9" * 5000,
        "float_not_a_number": "!!float lots",
        "bool_not_a_bool": "!!bool maybe",
        "null_not_null": None,
        "vault": "!vault |\n      $ANSIBLE_VAULT;1.1;AES256\n      6162636465",
        "cloudformation_ref": "!Ref MyImage",
        "cloudformation_getatt": "!GetAtt [Role, Arn]",
        "verbatim_python": "!<tag:yaml.org,2002:python/object/apply:os.system> [id]",
        "local_custom": "!custom value",
        "tag_directive": None,
        "str_on_mapping": "!!str {a: b}",
        "map_on_scalar": "!!map x",
        "seq_on_scalar": "!!seq x",
    }
    out = {}
    for name, value in values.items():
        if name == "null_not_null":
            out[f"tag_{name}"] = _svc("    replicas: !!null something\n")
        elif value is None:
            out[f"tag_{name}"] = "%TAG !py! tag:yaml.org,2002:python/object/apply:\n---\n" + HEAD + "services:\n  web:\n    image: !py!os.system [id]\n"
        else:
            out[f"tag_{name}"] = _svc(f"    user: {value}\n")
    out["tag_on_key"] = _svc("    !!python/object:os.system {}: x\n")
    out["tag_on_root"] = "!!python/object:os.system\n" + HEAD.replace("\n", "\n", 1) + WEB
    return out


def numbers() -> dict[str, str]:
    return {
        "number_int_5000_digits": _svc("    replicas: " + "9" * 5000 + "\n"),
        "number_float_overflow": _svc("    resources: {cpu: 1.0e+99999}\n"),
        "number_inf_cpu": _svc("    resources: {cpu: .inf}\n"),
        "number_nan_timeout": _svc("    health: {tcp: {port: 80}, timeout: .nan}\n"),
        "number_negative_inf_grace": _svc("    stop_grace_period: -.inf\n"),
        "number_huge_memory": _svc("    resources: {memory: " + "1" + "0" * 400 + "}\n"),
        "number_huge_port": _svc("    ports: [{port: " + "8" * 300 + "}]\n"),
        "number_huge_duration_text": _svc("    stop_grace_period: " + "9" * 400 + "s\n"),
        "number_long_decimal_size": _svc("    resources: {memory: 0." + "0" * 5000 + "1Gi}\n"),
    }


def encodings() -> dict[str, bytes]:
    text = (HEAD + WEB).encode()
    rng = random.Random(17)
    out: dict[str, bytes] = {
        "encoding_latin1": (HEAD + "services:\n  web:\n    image: nginx\n    env: {CITY: Zürich}\n").encode("latin-1"),
        "encoding_utf16_le_bom": (HEAD + WEB).encode("utf-16"),
        "encoding_utf16_be": (HEAD + WEB).encode("utf-16-be"),
        "encoding_utf32": (HEAD + WEB).encode("utf-32"),
        "encoding_cp1252_quotes": text + b"    user: \x93root\x94\n",
        "encoding_truncated_utf8": text + b"    user: caf\xc3",
        "encoding_overlong_slash": text + b"    user: \xc0\xaf\n",
        "encoding_surrogate_cesu": text + b"    user: \xed\xa0\x80\n",
        "encoding_bom_then_latin1": b"\xef\xbb\xbf" + text + b"    user: \xe9\n",
        "encoding_invalid_start_byte": b"\xff\xfe\xfd" + text,
        "control_nul_in_value": text + b"    user: ro\x00ot\n",
        "control_nul_first_byte": b"\x00" + text,
        "control_bell": text + b"    user: \x07\n",
        "control_escape_sequence": text + b"    user: \x1b[31mred\n",
        "control_backspace_in_key": text + b"    us\x08er: root\n",
        "control_del_c1": text + "    user: \u0085\u009b\n".encode(),
        "binary_random_1k": bytes(rng.randrange(256) for _ in range(1024)),
        "binary_random_64k": bytes(rng.randrange(256) for _ in range(65536)),
        "binary_gzip_header": b"\x1f\x8b\x08\x00" + bytes(rng.randrange(256) for _ in range(512)),
        "binary_elf_header": b"\x7fELF\x02\x01\x01\x00" + bytes(64),
        "binary_png_header": b"\x89PNG\r\n\x1a\n" + bytes(rng.randrange(256) for _ in range(256)),
        "binary_zeros_4k": bytes(4096),
    }
    return out


def structure() -> dict[str, str]:
    return {
        "structure_empty": "",
        "structure_only_comments": "# nothing here\n# at all\n",
        "structure_only_document_marker": "---\n",
        "structure_scalar_document": "just text\n",
        "structure_list_document": "- apiVersion: portable/v1\n- kind: Application\n",
        "structure_null_document": "~\n",
        "structure_two_documents": HEAD + WEB + "---\n" + HEAD + WEB,
        "structure_ten_thousand_documents": "---\n" * 10000,
        "structure_unclosed_quote": _svc('    user: "root\n'),
        "structure_unclosed_flow": _svc("    command: [sh, -c\n"),
        "structure_tab_indent": _svc("\tuser: root\n"),
        "structure_bad_directive": "%YAML 9.9\n---\n" + HEAD + WEB,
        "structure_merge_key": _svc("    <<: {user: root}\n"),
        "structure_complex_key": _svc("    ? [a, b]\n    : x\n"),
        "structure_null_key": _svc("    ~: x\n"),
        "structure_float_key": _svc("    1.5: x\n"),
        "structure_duplicate_key_deep": _svc("    env:\n      A: 1\n      A: 2\n"),
        "structure_key_500_chars": _svc("    " + "k" * 500 + ": x\n"),
        "structure_anchor_name_10k": _svc("    command: &" + "a" * 10000 + " [x]\n    args: *" + "b" * 10000 + "\n"),
        "structure_interpolation_unclosed": _svc('    user: "${USER"\n'),
        "structure_interpolation_nested_5000": _svc('    user: "' + "${A:-" * 5000 + "x" + "}" * 5000 + '"\n'),
        "structure_interpolation_100k_refs": _svc('    user: "' + "${A}" * 20000 + '${1BAD}"\n'),
    }


def write_small(directory: Path = FILES) -> list[Path]:
    """Writes every checked-in hostile file; returns their paths."""
    directory.mkdir(parents=True, exist_ok=True)
    for old in directory.iterdir():
        old.unlink()
    written = []
    groups: list[Callable[[], dict[str, str]] | Callable[[], dict[str, bytes]]] = [alias_bombs, recursive_aliases, deep_nesting, tags, numbers, encodings, structure]
    for group in groups:
        for name, body in group().items():
            path = directory / f"{name}.yaml"
            path.write_bytes(body if isinstance(body, bytes) else body.encode("utf-8"))
            written.append(path)
    return written


def write_huge(directory: Path) -> list[Path]:
    """The files too big to commit, written into `directory` (a test's tmp_path)."""
    directory.mkdir(parents=True, exist_ok=True)
    out = []

    def write(name: str, chunks: Callable[[], object]) -> None:
        path = directory / f"{name}.yaml"
        with path.open("wb") as fh:
            for chunk in chunks():  # type: ignore[attr-defined]
                fh.write(chunk)
        out.append(path)

    line = b"# " + b"c" * 77 + b"\n"
    write("huge_50mb_comments", lambda: [(HEAD + WEB).encode()] + [line * 10000] * 66)
    write("huge_50mb_unknown_keys", lambda: [(HEAD + WEB).encode()] + [b"".join(b"    k%07d: v\n" % (i * 10000 + j) for j in range(10000)) for i in range(330)])
    write("huge_limit_plus_one_byte", lambda: [(HEAD + WEB).encode(), b"#" * (10 * 1024 * 1024 + 1 - len((HEAD + WEB).encode()) - 1), b"\n"])
    write("huge_9mb_comments_then_error", lambda: [(HEAD + WEB).encode()] + [line * 10000] * 11 + [b"    user: [unclosed\n"])
    write("huge_9mb_unknown_keys", lambda: [(HEAD + WEB).encode()] + [b"".join(b"    k%07d: v\n" % (i * 10000 + j) for j in range(10000)) for i in range(60)])
    write("huge_150k_list_items", lambda: [(HEAD + WEB + "    command:\n").encode(), b"      - x\n" * 150000])
    write("huge_million_nesting", lambda: [(HEAD + WEB + "    command: ").encode(), b"[" * 1000000, b"x", b"]" * 1000000, b"\n"])
    write("huge_line_1mb", lambda: [(HEAD + "services:\n  web:\n    image: NGINX\n    user: ").encode(), b"x" * (1024 * 1024), b"\n"])
    write("huge_one_9mb_value", lambda: [(HEAD + "services:\n  web:\n    image: NGINX\n    user: ").encode(), b"x" * (9 * 1024 * 1024), b"\n"])
    write("huge_binary_8mb", lambda: [random.Random(5).randbytes(8 * 1024 * 1024)])
    return out


if __name__ == "__main__":
    paths = write_small(Path(sys.argv[1]) if len(sys.argv) > 1 else FILES)
    print(f"{len(paths)} files in {paths[0].parent}")
