"""Bad input: malformed bundles for the compiler, hostile values and ids for the HTTP API.

1. The compiler. The repo's own ``databricks.yml`` and ``bundles/`` are copied to a temporary
   directory and damaged by hypothesis — wrong types, deleted and unknown keys, dependency cycles,
   unknown references, bad ``run_if``, deep nesting, huge files, bytes that are not UTF-8, tabs,
   alias bombs, truncation; includes (outside the root, not YAML, nested, absolute, of a
   directory or of databricks.yml itself), anchors (anchor-only keys, merges of scalars, a second
   ``<<``, unknown aliases) and variables (complex values, field references and cycles, ``value:``,
   empty defaults, target overrides). Whatever the damage, ``validate_bundle`` answers a list of
   :class:`Problem` (code, message, and a file and line inside the bundle whenever it names
   one), ``compile_bundle`` raises nothing but :class:`CompileError`, what ``lakehook dev``'s
   reload does with the plain jobs of a bundle that compiles does not raise, ``lakehook validate``
   and ``graph`` exit 0 or 2, and nothing takes more than a few seconds.
2. The HTTP API, over real HTTP on loopback with a real SQLite store (support.live): values just
   at and just over the 256 KiB limit, nesting, huge numbers, NaN/Infinity, unicode and control
   characters; ids with ``../``, ``%2F``, encoded slashes, NUL, CR/LF, RTL marks, or far too long
   — in promise ids, run ids, flow names, task keys and values. Each gets a 4xx in the error
   shape or a correct round trip; never a 5xx, and a refused request stores nothing.
"""

from __future__ import annotations

import contextlib
import copy
import json
import re
import shutil
import signal
import sqlite3
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest
import yaml
from hypothesis import HealthCheck, given, note, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from lambda_resolver.cli import bundle_cmds  # noqa: F401 - it registers validate and graph
from lambda_resolver.cli.app import app
from lambda_resolver.compiler import (
    CompileError,
    Problem,
    check_bundle,
    compile_bundle,
    compile_flows,
    load_bundle,
    validate_bundle,
)
from lambda_resolver.core.context import MAX_VALUE_BYTES
from lambda_resolver.local.task_plan import localize_job_settings

from support.live import LiveResolver, Reply, is_error_shape, pair_flow, start_live

REPO = Path(__file__).resolve().parents[2]
CLI = CliRunner()
BUNDLE_FILES = [
    "databricks.yml",
    *sorted(p.relative_to(REPO).as_posix() for p in (REPO / "bundles").glob("*.yml")),
]
# "Never hangs": reading and compiling one damaged bundle takes well under a second, 3 s for the
# biggest damage (30,000 unknown keys) on an idle machine; past this, the test fails.
COMPILE_LIMIT_S = 60
BUNDLE_EXAMPLES = 150
HTTP_EXAMPLES = 100
SETTINGS: dict[str, Any] = {
    "deadline": None,
    "suppress_health_check": list(HealthCheck),
    "derandomize": True,
    "database": None,
}


# -- 1. the compiler -------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def pristine(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The repo's bundle, copied once: every example damages a fresh copy of this."""
    root = tmp_path_factory.mktemp("bundle")
    shutil.copy(REPO / "databricks.yml", root / "databricks.yml")
    shutil.copytree(REPO / "bundles", root / "bundles")
    assert validate_bundle(root, environ={}) == [], "the repo's own bundle must compile"
    return root


@contextlib.contextmanager
def copy_of(pristine: Path) -> Iterator[Path]:
    with tempfile.TemporaryDirectory(prefix="damaged-") as tmp:
        root = Path(tmp) / "b"
        shutil.copytree(pristine, root)
        yield root


@contextlib.contextmanager
def time_limit(seconds: int) -> Iterator[None]:
    """Fail (rather than hang the suite) if the block runs longer than ``seconds``."""

    def expired(signum: int, frame: Any) -> None:
        raise TimeoutError(f"the compiler ran for more than {seconds} s")

    previous = signal.signal(signal.SIGALRM, expired)
    signal.alarm(seconds)
    try:
        yield
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, previous)


# Values a damaged key may take: every YAML type, wrong everywhere somewhere.
WRONG_VALUES = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=20),
    st.sampled_from(
        [
            "${resources.jobs.nope.id}",
            "${var.nope}",
            "${var.catalog",
            "{{tasks.nope.values.x}}",
            "{{job.parameters.nope}}",
            "{{tasks.extract_a.values.}}",
            "${bundle.name}${",
            "ALWAYS",
            "all_success",
            "../../../etc/passwd",
            "a\tb",
            "\u202eevil",
            "x" * 5000,
        ]
    ),
    st.lists(st.integers(), max_size=3),
    st.dictionaries(st.text(max_size=5), st.integers(), max_size=3),
)


DEEP = "__deeply_nested__"


def _paths(node: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    out = [prefix]
    if isinstance(node, dict):
        for k, v in node.items():
            out += _paths(v, (*prefix, k))
    elif isinstance(node, list):
        for i, v in enumerate(node):
            out += _paths(v, (*prefix, i))
    return out


def _parent(doc: Any, path: tuple[Any, ...]) -> Any:
    for p in path[:-1]:
        doc = doc[p]
    return doc


@st.composite
def structural_damage(draw: st.DrawFn, data: Any) -> tuple[Any, str, int]:
    """One structural change to a parsed file: (the new document, what was done, nesting to add)."""
    doc = copy.deepcopy(data)
    paths = [p for p in _paths(doc) if p]
    path = draw(st.sampled_from(paths))
    parent = _parent(doc, path)
    kind = draw(st.sampled_from(["wrong_type", "delete", "unknown_key", "deep", "duplicate_item"]))
    if kind == "wrong_type":
        parent[path[-1]] = draw(WRONG_VALUES)
    elif kind == "delete":
        del parent[path[-1]]
    elif kind == "unknown_key":
        target = parent[path[-1]] if isinstance(parent[path[-1]], dict) else parent
        if isinstance(target, dict):
            target[draw(st.sampled_from(["tasks_", "notebook_taks", "run_iff", "???", "0", "🙂"]))] = draw(
                WRONG_VALUES
            )
    elif kind == "deep":  # written as flow-style text by damage(): PyYAML's dumper would recurse
        depth = draw(st.sampled_from([20, 99, 100, 101, 500, 5000]))
        parent[path[-1]] = DEEP
        return doc, f"nested {depth} deep at {'.'.join(map(str, path))}", depth
    elif isinstance(parent, list):
        parent.append(copy.deepcopy(parent[path[-1]]))
    return doc, f"{kind} at {'.'.join(map(str, path))}", 0


def _set(key: str, value: Any) -> Callable[[dict[str, Any]], None]:
    return lambda task: task.__setitem__(key, value)


def _set_in(section: str, key: str, value: Any) -> Callable[[dict[str, Any]], None]:
    return lambda task: task[section].__setitem__(key, value)


def _add_parameter(task: dict[str, Any]) -> None:
    task["run_job_task"]["job_parameters"]["x"] = "{{tasks.zz.values.a}}"


def _bad_outcome(task: dict[str, Any]) -> None:
    task["depends_on"][0]["outcome"] = "maybe"


FLOW_DAMAGE = [
    # a cycle: extract_a waits for report, which waits (through combine) for extract_a
    ("nightly.yml", "extract_a", _set("depends_on", [{"task_key": "report"}])),
    ("nightly.yml", "combine", _set("run_if", "WHENEVER")),
    ("nightly.yml", "combine", _set("depends_on", [{"task_key": "nope"}])),
    ("nightly.yml", "combine", _set_in("run_job_task", "job_id", "${resources.jobs.nope.id}")),
    ("nightly.yml", "report", _add_parameter),
    ("nightly.yml", "extract_b", _set("task_key", "extract_a")),
    ("nightly.yml", "extract_b", _set("task_key", "a/b.c")),
    ("nightly.yml", "extract_b", _set("max_retries", "many")),
    ("nightly.yml", "extract_b", _set("timeout_seconds", -5)),
    ("ml_pipeline.yml", "check_metric", _set_in("condition_task", "op", "ROUGHLY")),
    ("ml_pipeline.yml", "approve", _bad_outcome),
]


def _load(path: Path) -> Any:
    return yaml.safe_load(path.read_text(encoding="utf-8"))


def _dump(doc: Any) -> str:
    return yaml.safe_dump(doc, sort_keys=False, allow_unicode=True, width=10_000)


@st.composite
def damage(draw: st.DrawFn, pristine: Path) -> Callable[[Path], str]:
    """A function that damages a bundle copy in place and says what it did."""
    kind = draw(
        st.sampled_from(
            ["structure", "flow", "text", "bytes", "tabs", "huge", "truncate", "alias_bomb"]
            + ["include", "anchor", "variable"] * 2
        )
    )
    if kind == "include":
        return draw(include_damage(pristine))
    if kind == "variable":
        return draw(variable_damage(pristine))
    rel = draw(st.sampled_from(BUNDLE_FILES))
    original = (pristine / rel).read_text(encoding="utf-8")
    if kind == "structure":
        doc, what, depth = draw(structural_damage(_load(pristine / rel)))
        nested = "{n: " * depth + "x" + "}" * depth if depth % 2 else "[" * depth + "]" * depth
        text = _dump(doc).replace(DEEP, nested)
    elif kind == "flow":
        name, task_key, change = draw(st.sampled_from(FLOW_DAMAGE))
        rel = f"bundles/{name}"
        doc = _load(pristine / rel)
        tasks = next(iter(doc["resources"]["jobs"].values()))["tasks"]
        change(next(t for t in tasks if t["task_key"] == task_key))
        text, what = _dump(doc), f"flow damage in {name}"
    elif kind == "text":  # a few characters replaced anywhere
        chars = list(original)
        for _ in range(draw(st.integers(1, 5))):
            i = draw(st.integers(0, len(chars) - 1))
            chars[i] = draw(
                st.sampled_from([":", "-", "{", "[", "'", '"', "&", "*", "!", "|", ">", "%", "@", "\x00"])
            )
        text, what = "".join(chars), "characters replaced"
    elif kind == "tabs":
        text, what = original.replace("  ", "\t", draw(st.integers(1, 50))), "indentation as tabs"
    elif kind == "huge":
        size = draw(st.sampled_from([300_000, 3_000_000]))
        filler = draw(st.sampled_from(["comment", "keys", "value"]))
        if filler == "comment":
            text = original + ("# " + "x" * 98 + "\n") * (size // 100)
        elif filler == "keys":  # each unknown key is a problem (with a "did you mean"): 30,000 at most
            text = original + "".join(f"k{i}: {i}\n" for i in range(min(size, 300_000) // 10))
        else:
            text = original.replace("name: ", "name: " + "y" * size, 1)
        what = f"huge file ({filler}, {size} bytes)"
    elif kind == "truncate":
        cut = draw(st.integers(0, len(original)))
        text, what = original[:cut], f"truncated at {cut}"
    elif kind == "anchor":
        text, what = draw(anchor_damage(original))
    elif kind == "alias_bomb":
        levels = draw(st.integers(5, 12))
        lines = ['a0: &a0 ["lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol"]']
        lines += [f"a{i}: &a{i} [{', '.join([f'*a{i - 1}'] * 9)}]" for i in range(1, levels)]
        text, what = original + "\nx_bomb:\n" + "\n".join("  " + line for line in lines) + "\n", "alias bomb"
    else:  # bytes: not UTF-8
        raw = original.encode()
        at = draw(st.integers(0, len(raw)))
        bad = draw(st.sampled_from([b"\xff", b"\xc3(", b"\xed\xa0\x80", b"\x80\x80", b"\xfe\xff"]))

        def write_bytes(root: Path) -> str:
            (root / rel).write_bytes(raw[:at] + bad + raw[at:])
            return f"{rel}: invalid UTF-8 at byte {at}"

        return write_bytes

    def write(root: Path) -> str:
        (root / rel).write_text(text, encoding="utf-8")
        return f"{rel}: {what}"

    return write


OUTSIDE_TEXTS = [
    "resources:\n  jobs:\n    outside_job:\n      name: outside\n      tasks:\n        - task_key: t\n"
    "          notebook_task: {notebook_path: ../src/nb.py}\n",
    "resources:\n  jobs:\n    nightly: {name: again}\n",  # a key databricks.yml's includes define
    "include: [databricks.yml, ../outside.yml]\nvariables: {catalog: {default: other}}\n",
    "variables:\n  cat2: {type: complex, default: {a: ${var.cat2.b}, b: ${var.cat2.a}}}\n",
    '{"resources": {"jobs": {"from_json": {"name": "j"}}}}\n',
    "targets: {dev: {default: true}, other: {default: true}}\n",
    "environments: {legacy: {mode: development}}\n",
    "- a list\n- not a mapping\n",
    "key: [unclosed\n",
    "",
]
INCLUDE_ENTRIES = [
    "../outside.yml", "../*.yml", "../outside/**/*.yml", "/etc/hostname", "bundles", "bundles/",
    "databricks.yml", "bundles/notebooks/*", "bundles/*.py", "*", "../..", "bundles/[", "\x00",
    "outside.json", "../outside.json", "bundles/**/*.yml", "bundles/nightly.yml",
]  # fmt: skip


@st.composite
def include_damage(draw: st.DrawFn, pristine: Path) -> Callable[[Path], str]:
    """Includes the CLI reads (outside the root, JSON) and ones it refuses, with damaged targets."""
    entries = draw(st.lists(st.sampled_from(INCLUDE_ENTRIES), min_size=1, max_size=4))
    outside = draw(st.sampled_from(OUTSIDE_TEXTS))
    nested = draw(st.booleans())
    main = _load(pristine / "databricks.yml")

    def write(root: Path) -> str:
        main["include"] = [*main.get("include", []), *entries]
        (root / "databricks.yml").write_text(_dump(main), encoding="utf-8")
        for name in ("outside.yml", "outside.json"):
            (root.parent / name).write_text(outside, encoding="utf-8")
        (root / "outside.json").write_text(outside, encoding="utf-8")
        if nested:
            with (root / "bundles" / "report.yml").open("a", encoding="utf-8") as f:
                f.write("include: [../../outside.yml, report.yml]\n")
        return f"includes {entries}, outside file {outside[:40]!r}, nested include: {nested}"

    return write


ANCHOR_BLOCKS = [
    "definitions:\n  retrying: &retrying {max_retries: 2, timeout_seconds: 60}\n",
    "x-list:\n  - &p1 {name: a, default: x}\n  - {name: b}\n",  # an anchor and a plain item
    "x-scalar: &s 5\n",
    "x-recursive: &r [*r]\n",
    "x-unknown: *nope\n",
    "x-merge-scalar:\n  <<: *s\n",
    "x-merges:\n  <<: *retrying\n  <<: *retrying\n",
    "x-merge-list:\n  <<: [*retrying, *retrying]\n  max_retries: 1\n",
    "&k x-anchored-key: v\n",
]
MERGE_INTO_TASKS = [
    "<<: *retrying",
    "<<: *s",
    "<<: *nope",
    "<<: [*retrying, *s]",
    "<<: *retrying\n<<: *retrying",
]
TASK_LINE = re.compile(r"^(\s*)- task_key: \w+$", re.M)


@st.composite
def anchor_damage(draw: st.DrawFn, original: str) -> tuple[str, str]:
    """Anchors and merges: in anchor-only keys, merged into tasks, duplicated, undefined."""
    blocks = draw(st.lists(st.sampled_from(ANCHOR_BLOCKS), min_size=1, max_size=3))
    text = "".join(blocks) + original
    merge = draw(st.sampled_from(MERGE_INTO_TASKS))
    where = [m for m in TASK_LINE.finditer(text)]
    if where and draw(st.booleans()):
        m = draw(st.sampled_from(where))
        indent = " " * (len(m.group(1)) + 2)
        inserted = "".join(f"\n{indent}{line}" for line in merge.split("\n"))
        text = text[: m.end()] + inserted + text[m.end() :]
    return text, f"anchors {blocks}, merged {merge!r}"


VARIABLE_BODIES = [
    None, {"default": None}, {"description": "d"}, {"value": {"a": 1}}, {"type": "complex", "value": [1, 2]},
    {"type": "complex", "default": {"a": "${var.NAME.b}", "b": 1}},
    {"type": "complex", "default": {"a": "${var.NAME.a}"}},  # a field that needs itself
    {"type": "complex", "default": {"a": "${var.catalog}", "b": "${var.OTHER.a}"}},
    {"type": "complex", "default": "${var.OTHER}"}, {"default": {"not": "complex"}},
    {"default": "${var.NAME.x.y}"}, {"default": "${var.catalog[3]}"}, {"default": "${var.NAME}"},
    {"lookup": None}, {"lookup": {"cluster": "x"}}, {"unknown": 1, "default": 2}, "shorthand", [1, 2], 7,
    {"default": "${resources.jobs.nope.id}"}, {"default": "${var.nope}"}, {"type": "nope", "default": 1},
]  # fmt: skip
TARGET_VALUES = [None, "v", 1, [1], {"default": None}, {"default": {"a": 1}}, {"lookup": {"x": "y"}},
                 {"value": 1}, {"a": "${var.catalog}"}, {"default": "${var.NAME}"}]  # fmt: skip


@st.composite
def variable_damage(draw: st.DrawFn, pristine: Path) -> Callable[[Path], str]:
    """Variables as the CLI reads them, damaged: complex values, field references, cycles, overrides."""
    doc = _load(pristine / "databricks.yml")
    names = list(doc["variables"])
    changes = []
    for _ in range(draw(st.integers(1, 3))):
        name = draw(st.sampled_from([*names, "extra"]))
        other = draw(st.sampled_from([*names, "extra"]))
        if draw(st.booleans()):
            body = draw(st.sampled_from(VARIABLE_BODIES))
            text = json.dumps(body).replace("NAME", name).replace("OTHER", other)
            doc["variables"][name] = json.loads(text)
            changes.append(f"{name}: {text}")
        else:
            value = json.loads(json.dumps(draw(st.sampled_from(TARGET_VALUES))).replace("NAME", other))
            target = draw(st.sampled_from(["dev", "prod"]))
            body = doc["targets"][target] or {}
            body.setdefault("variables", {})[name] = value
            doc["targets"][target] = body
            changes.append(f"targets.{target}.variables.{name}: {value!r}")
    use = draw(st.sampled_from([None, "${var.NAME}", "${var.NAME.a}", "${var.NAME[0]}", "x-${var.NAME.b}"]))
    job_rel = draw(st.sampled_from([r for r in BUNDLE_FILES if r != "databricks.yml"]))
    name = draw(st.sampled_from([*names, "extra"]))

    def write(root: Path) -> str:
        (root / "databricks.yml").write_text(_dump(doc), encoding="utf-8")
        if use is not None:
            job_doc = _load(root / job_rel)
            job = next(iter(job_doc["resources"]["jobs"].values()))
            job["description"] = use.replace("NAME", name)
            (root / job_rel).write_text(_dump(job_doc), encoding="utf-8")
        return f"variables: {changes}; {job_rel} uses {use}"

    return write


def reload_plain_jobs(bundle: Any) -> None:
    """What ``lakehook dev``'s reload does with a bundle that compiles: register its plain jobs."""
    for job in bundle.jobs.values():
        if not job.is_flow:
            json.dumps(localize_job_settings(bundle, job))


def check_problems(root: Path, problems: list[Problem]) -> None:
    """Each problem is ours, says what is wrong, and points inside the bundle when it points."""
    lines_in: dict[str, int] = {}
    for p in problems:
        assert isinstance(p, Problem), p
        assert p.code and isinstance(p.code, str) and p.message and isinstance(p.message, str), p
        assert "Traceback" not in p.message, p
        if p.file is not None:
            assert (root / p.file).is_file(), f"{p} names a file that is not in the bundle"
            if p.line is not None:
                if p.file not in lines_in:
                    lines_in[p.file] = (root / p.file).read_bytes().count(b"\n") + 1
                assert 1 <= p.line <= lines_in[p.file], f"{p} names line {p.line} of {lines_in[p.file]}"
        else:
            assert p.code in UNLOCATED, f"{p} is not located"


# Problems about the bundle as a whole, which no one line causes.
UNLOCATED = {"missing_bundle"}


def _bomb(levels: int) -> str:
    lines = ['a0: &a0 ["lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol"]']
    lines += [f"a{i}: &a{i} [{', '.join([f'*a{i - 1}'] * 9)}]" for i in range(1, levels)]
    return "\nx_bomb:\n" + "\n".join("  " + line for line in lines) + "\n"


def _no_variables(text: str) -> str:
    return text.replace("variables:\n", "variables_old:\n")


# Damage the property found at first (each crashed or hung the compiler), kept as fixed examples.
FOUND = [
    # resources/variables in databricks.yml present but empty (null) or not a mapping, with includes
    ("databricks.yml", lambda t: t + "resources:\n", None),
    ("databricks.yml", lambda t: t + "resources: [1, 2]\n", "bad_config"),
    ("databricks.yml", lambda t: t + "resources:\n  jobs:\n", None),
    ("databricks.yml", lambda t: t + "resources:\n  jobs: 7\n", "bad_config"),
    ("databricks.yml", lambda t: _no_variables(t) + "variables:\n", "unknown_variable"),
    ("databricks.yml", lambda t: _no_variables(t) + "variables: 3\n", "bad_config"),
    # a task key no promise id can hold (compiled, then refused at publish: now refused here)
    ("bundles/nightly.yml", lambda t: t.replace("task_key: extract_b", "task_key: a/b.c", 1), "bad_task_key"),
    # a billion laughs: 9^12 values if expanded
    ("bundles/nightly.yml", lambda t: t + _bomb(12), "yaml_syntax"),
    ("databricks.yml", lambda t: t + _bomb(8), "yaml_syntax"),
    # nesting past what a bundle needs (and past Python's recursion limit, unchecked)
    ("bundles/nightly.yml", lambda t: t + "x_deep: " + "[" * 101 + "]" * 101 + "\n", "yaml_syntax"),
    ("bundles/nightly.yml", lambda t: t + "x_deep: " + "{a: " * 5000 + "1" + "}" * 5000, "yaml_syntax"),
]  # fmt: skip


@pytest.mark.parametrize(
    ("rel", "change", "code"), FOUND, ids=[f"{r}-{i}" for i, (r, _, _) in enumerate(FOUND)]
)
def test_damage_that_once_crashed_or_hung_the_compiler_is_a_located_problem(
    pristine: Path, rel: str, change: Callable[[str], str], code: str | None
) -> None:
    with copy_of(pristine) as root:
        (root / rel).write_text(change((root / rel).read_text(encoding="utf-8")), encoding="utf-8")
        with time_limit(COMPILE_LIMIT_S):
            problems = validate_bundle(root, environ={})
        check_problems(root, problems)
        codes = {p.code for p in problems}
        assert (code in codes) if code else not codes, [str(p) for p in problems]


def test_a_plain_job_setting_of_the_wrong_shape_is_dropped_with_a_warning_and_reload_goes_on(
    pristine: Path,
) -> None:
    """Once a crash of ``lakehook dev``'s reload: ``tasks: 5`` in a plain job (a warning, as in the
    CLI) reached the code that registers the job with the local workspace."""
    with copy_of(pristine) as root:
        path = root / "bundles" / "train.yml"
        doc = _load(path)
        key, job = next(iter(doc["resources"]["jobs"].items()))
        job["tasks"], job["queue"] = 5, "yes"
        path.write_text(_dump(doc), encoding="utf-8")
        bundle = load_bundle(root, environ={}, strict=False)
        flows, errors = check_bundle(bundle)
        assert errors == [] and set(flows) == {"nightly", "ml_pipeline"}
        shapes = [p for p in bundle_warnings(bundle) if p.job == key]
        assert [(p.code, p.severity) for p in shapes] == [("invalid_job", "warning")] * 2
        assert {p.message.split(" must")[0] for p in shapes} == {"tasks", "queue"}
        check_problems(root, shapes)
        reload_plain_jobs(bundle)
        assert "tasks" not in bundle.jobs[key].spec and "queue" not in bundle.jobs[key].spec


def bundle_warnings(bundle: Any) -> list[Problem]:
    from lambda_resolver.compiler import diagnose_bundle

    return diagnose_bundle(bundle).warnings


@pytest.mark.parametrize("seed_file", ["databricks.yml", "bundles/nightly.yml"])
def test_the_repo_bundle_compiles_before_it_is_damaged(pristine: Path, seed_file: str) -> None:
    assert (pristine / seed_file).is_file()
    assert set(compile_bundle(pristine, environ={})) == {"nightly", "ml_pipeline"}


@settings(max_examples=BUNDLE_EXAMPLES, **SETTINGS)
@given(data=st.data())
def test_a_damaged_bundle_gets_located_problems_never_a_crash_or_a_hang(
    pristine: Path, data: st.DataObject
) -> None:
    write = data.draw(damage(pristine))
    with copy_of(pristine) as root:
        what = write(root)
        note(what)
        with time_limit(COMPILE_LIMIT_S):
            bundle = load_bundle(root, environ={}, strict=False)  # validate_bundle, in two steps
            problems = check_bundle(bundle)[1]
            try:
                compile_flows(bundle)
            except CompileError as exc:
                assert [p.to_dict() for p in exc.problems] == [p.to_dict() for p in problems], what
            else:
                assert problems == [], what
                reload_plain_jobs(bundle)
        check_problems(root, [*problems, *bundle.warnings])
        assert all(not p.is_warning for p in problems), what


@settings(max_examples=BUNDLE_EXAMPLES // 5, **SETTINGS)
@given(data=st.data())
def test_lakehook_validate_and_graph_exit_0_or_2_on_a_damaged_bundle(
    pristine: Path, data: st.DataObject
) -> None:
    write = data.draw(damage(pristine))
    with copy_of(pristine) as root:
        note(write(root))
        for args in (["validate", "--json"], ["validate", "--strict"], ["graph", "nightly"]):
            with time_limit(COMPILE_LIMIT_S):
                result = CLI.invoke(app, [*args, "--bundle", str(root)])
            assert result.exit_code in (0, 2), (args, result.exception, result.stderr[-2000:])
            assert "Traceback" not in result.stderr, result.stderr[-2000:]
            if args[1:] == ["--json"]:
                doc = json.loads(result.stdout)
                assert doc["valid"] == (result.exit_code == 0)
                check_problems(root, [Problem(**p) for p in doc["problems"]])


# -- 2. the HTTP API ------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveResolver]:
    resolver = start_live(tmp_path_factory.mktemp("bad-input") / "lakehook.db", resonate_compat=True)
    resolver.h.publish(pair_flow())
    yield resolver
    resolver.close()


_serial = iter(range(1, 10**9))


def new_promise(live: LiveResolver) -> str:
    """A fresh standalone promise (the operator may settle any promise)."""
    pid = f"bi-{next(_serial)}"
    assert live.call("POST", "/v1/promises", {"id": pid}, operator=True).status == 201
    return pid


def rows(live: LiveResolver) -> dict[str, int]:
    """How many records each table of the store holds: a refused request must not change this."""
    con = sqlite3.connect(f"file:{live.h.store.path}?mode=ro", uri=True)  # type: ignore[attr-defined]
    try:
        tables = [r[0] for r in con.execute("SELECT name FROM sqlite_master WHERE type = 'table'")]
        return {t: con.execute(f'SELECT count(*) FROM "{t}"').fetchone()[0] for t in tables}
    finally:
        con.close()


def refused(reply: Reply, *statuses: int) -> dict[str, Any]:
    """A 4xx in the documented error shape (one of ``statuses`` when given); its error."""
    assert 400 <= reply.status < 500, (reply.status, reply.text[:300])
    if statuses:
        assert reply.status in statuses, (reply.status, reply.text[:300])
    assert reply.headers.get("content-type", "").startswith("application/json"), reply.headers
    assert is_error_shape(reply.json), reply.text[:300]
    return reply.json["error"]  # type: ignore[no-any-return]


def settle_raw(live: LiveResolver, pid: str, body: str) -> Reply:
    return live.call("POST", f"/v1/promises/{pid}/resolve", body, operator=True)


def stored(live: LiveResolver, pid: str) -> dict[str, Any]:
    reply = live.call("GET", f"/v1/promises/{pid}", operator=True)
    assert reply.status == 200, reply.text[:300]
    return reply.json  # type: ignore[no-any-return]


def assert_round_trip_or_refused(live: LiveResolver, pid: str, body: str, value: Any) -> Reply:
    """A settle with ``body`` is 200 storing exactly ``value``, or a 4xx leaving the promise pending."""
    reply = settle_raw(live, pid, body)
    if reply.status == 200:
        assert reply.json["value"] == value and stored(live, pid)["value"] == value
        assert json.loads(reply.text) == reply.json  # strict JSON: no NaN/Infinity in an answer
    else:
        refused(reply)
        doc = stored(live, pid)
        assert (doc["state"], doc["value"]) == ("PENDING", None), "a refused settle stored something"
    return reply


# values: size ------------------------------------------------------------------------------------
@pytest.mark.parametrize("char", ["a", "é", "😀"], ids=["ascii", "2-byte", "4-byte"])
def test_a_value_at_the_limit_round_trips_and_one_byte_more_is_413(live: LiveResolver, char: str) -> None:
    per = len(char.encode())
    n, rest = divmod(MAX_VALUE_BYTES - 2, per)  # compact JSON of a string: its UTF-8 bytes + 2 quotes
    at_limit = char * n + "a" * rest
    assert len(json.dumps(at_limit, ensure_ascii=False).encode()) == MAX_VALUE_BYTES
    pid = new_promise(live)
    over = settle_raw(live, pid, json.dumps({"value": at_limit + "a"}, ensure_ascii=False))
    err = refused(over, 413)
    assert err["code"] == "value_too_large" and "volume" in err["message"]
    assert stored(live, pid)["state"] == "PENDING"
    ok = settle_raw(live, pid, json.dumps({"value": at_limit}, ensure_ascii=False))
    assert ok.status == 200 and stored(live, pid)["value"] == at_limit


def test_an_object_value_at_the_limit_counts_its_json_not_its_characters(live: LiveResolver) -> None:
    # "\n" is two bytes of JSON: 100,000 newlines and the key are over the limit as JSON
    pid = new_promise(live)
    err = refused(settle_raw(live, pid, json.dumps({"value": {"k": "\n" * 131_070}})), 413)
    assert err["code"] == "value_too_large"
    value = {"k": "\n" * 131_060}
    assert settle_raw(live, pid, json.dumps({"value": value})).status == 200
    assert stored(live, pid)["value"] == value


# values: nesting and numbers -------------------------------------------------------------------
@settings(max_examples=HTTP_EXAMPLES // 2, **SETTINGS)
@given(depth=st.one_of(st.integers(1, 1200), st.sampled_from([900, 950, 975, 990, 1000, 5000, 100_000])))
def test_nesting_round_trips_or_is_refused_never_a_500(live: LiveResolver, depth: int) -> None:
    pid = new_promise(live)
    opening, closing = ("[", "]") if depth % 2 else ('{"k":', "}")
    body = '{"value": ' + opening * depth + "0" + closing * depth + "}"
    value: Any = 0
    for _ in range(depth if depth <= 1200 else 0):
        value = [value] if depth % 2 else {"k": value}
    reply = settle_raw(live, pid, body)
    if depth > 1200:
        refused(reply, 400)
        assert stored(live, pid)["state"] == "PENDING"
        return
    if reply.status == 200:
        assert stored(live, pid)["value"] == value
    else:
        assert refused(reply, 400)["code"] == "bad_request"
        assert stored(live, pid)["state"] == "PENDING"


NUMBERS = [
    ("0", 0),
    ("-0.0", -0.0),
    ("1e308", 1e308),
    ("-1.7976931348623157e308", -1.7976931348623157e308),
    ("5e-324", 5e-324),
    ("1e-400", 0.0),  # underflows to zero: a finite number, as every JSON reader reads it
    ("123456789012345678901234567890", 123456789012345678901234567890),
    ("1" + "0" * 4299, 10**4299),  # the most digits Python reads (sys.get_int_max_str_digits)
    ("1e309", None),
    ("-1e400", None),
    ("1" + "0" * 4300, None),
    ("NaN", None),
    ("Infinity", None),
    ("-Infinity", None),
    ("1.0e+99999", None),
]


@pytest.mark.parametrize(("text", "value"), NUMBERS, ids=[t[:24] for t, _ in NUMBERS])
def test_huge_numbers_and_nan_round_trip_exactly_or_are_refused(
    live: LiveResolver, text: str, value: Any
) -> None:
    pid = new_promise(live)
    reply = assert_round_trip_or_refused(live, pid, '{"value": ' + text + "}", value)
    if value is None:
        assert refused(reply, 400)["message"] == "the request body is not valid JSON"
    else:
        assert reply.status == 200
    # the same numbers inside start parameters and heartbeats: never a 500
    beat = live.call(
        "POST", f"/v1/promises/{new_promise(live)}/heartbeat", '{"extend_s": ' + text + "}", operator=True
    )
    assert beat.status in (200, 400, 422), beat.text[:200]


# values: unicode and control characters --------------------------------------------------------
SPECIAL_TEXT = [
    "\x00",
    "a\x00b",
    "\r\n",
    "line1\nline2\r\n",
    "\u202eevil\u202c",
    "\u200f\u200e",
    "\ufeff",
    "\u2028\u2029",
    "😀",
    "\x7f\x1b[31m",
    "../../etc/passwd",
    "%2F%2e%2e",
    "\\u0000",
    '"}],"injected":{"',
]
TEXT = st.one_of(
    st.sampled_from(SPECIAL_TEXT), st.text(st.characters(min_codepoint=0, exclude_categories=["Cs"]))
)
JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False, allow_infinity=False) | TEXT,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(TEXT, inner, max_size=4),
    max_leaves=12,
)


@settings(max_examples=HTTP_EXAMPLES, **SETTINGS)
@given(value=JSON_VALUES, ascii_only=st.booleans())
def test_unicode_and_control_characters_round_trip_exactly(
    live: LiveResolver, value: Any, ascii_only: bool
) -> None:
    pid = new_promise(live)
    reply = settle_raw(live, pid, json.dumps({"value": value}, ensure_ascii=ascii_only))
    assert reply.status == 200, reply.text[:300]
    assert reply.json["value"] == value and stored(live, pid)["value"] == value


@pytest.mark.parametrize("escape", ["\\ud800", "\\udfff", "a\\ud83d", "\\ude00b"])
def test_a_lone_surrogate_is_a_clear_400_and_stores_nothing(live: LiveResolver, escape: str) -> None:
    pid = new_promise(live)
    err = refused(settle_raw(live, pid, '{"value": "' + escape + '"}'), 400)
    assert err["code"] == "bad_request" and "not JSON" in err["message"]
    assert stored(live, pid)["state"] == "PENDING"
    not_utf8 = live.raw(
        "POST",
        f"/v1/promises/{pid}/resolve",
        b'{"value": "\xff\xfe"}',
        {"Content-Type": "application/json", **live.operator()},
    )
    assert refused(not_utf8, 400)["code"] == "bad_request"
    assert stored(live, pid)["state"] == "PENDING"


# ids and paths ----------------------------------------------------------------------------------
HOSTILE_IDS = [
    "..",
    "../..",
    "../v1/runs",
    "a/b",
    "a%2Fb",
    "a%252Fb",
    "%2e%2e%2f",
    "..%2F..%2F",
    "a\\b",
    "a\x00b",
    "a\r\nX-Injected: 1",
    "a b",
    "\u202erun",
    "é",
    "😀",
    "a" * 129,
    "a" * 5000,
    "a" * 70_000,
    "",
    " ",
    "?x=1",
    "#frag",
    "a;b",
    "*",
]
IDS = st.one_of(st.sampled_from(HOSTILE_IDS), st.text(max_size=200))
ROUTES = [
    ("GET", "/v1/promises/{}"),
    ("POST", "/v1/promises/{}/resolve"),
    ("POST", "/v1/promises/{}/reject"),
    ("POST", "/v1/promises/{}/heartbeat"),
    ("GET", "/v1/runs/{}"),
    ("POST", "/v1/runs/{}/cancel"),
    ("GET", "/v1/flows/{}"),
]
PATH_CODES = {"invalid_id", "not_found", "unknown_flow", "unauthorized", "method_not_allowed", "uri_too_long"}
BODIES = {"resolve": {"value": 1}, "reject": {"error": {"message": "no"}}, "heartbeat": {}}


def _paths_for(raw: str, template: str) -> list[str]:
    """The id as a client would send it (percent-encoded), and raw where HTTP lets it through."""
    out = [template.format(quote(raw, safe="")), template.format(quote(raw, safe="/%"))]
    if raw and all(33 <= ord(c) < 127 and c not in "?#" for c in raw):
        out.append(template.format(raw))
    return out


@settings(max_examples=HTTP_EXAMPLES, **SETTINGS)
@given(raw=IDS, route=st.sampled_from(ROUTES), operator=st.booleans())
def test_hostile_ids_in_paths_are_4xx_in_the_error_shape_and_change_nothing(
    live: LiveResolver, raw: str, route: tuple[str, str], operator: bool
) -> None:
    method, template = route
    before = rows(live)
    body = BODIES.get(template.rsplit("/", 1)[-1]) if method == "POST" else None
    for path in _paths_for(raw, template):
        reply = live.call(method, path, body, operator=operator)
        err = refused(reply)
        assert err["code"] in PATH_CODES, err
    assert rows(live) == before


@settings(max_examples=HTTP_EXAMPLES, **SETTINGS)
@given(raw=IDS, where=st.sampled_from(["run_id", "flow", "promise"]))
def test_hostile_ids_in_bodies_are_refused_or_round_trip(live: LiveResolver, raw: str, where: str) -> None:
    before = rows(live)
    if where == "promise":
        reply = live.call("POST", "/v1/promises", {"id": raw}, operator=True)
    else:
        doc = {"flow": "pair", "run_id": raw} if where == "run_id" else {"flow": raw}
        reply = live.call("POST", "/v1/runs", doc, operator=True)
    if reply.status in (200, 201):  # a valid id: it reads back under that very id
        key = "id" if where == "promise" else "run_id"
        got = reply.json[key]
        if where != "flow":
            assert got == raw
        path = (
            f"/v1/promises/{quote(got, safe='')}" if where == "promise" else f"/v1/runs/{quote(got, safe='')}"
        )
        again = live.call("GET", path, operator=True)
        assert again.status == 200 and again.json[key] == got
        if where != "promise":
            live.call("POST", f"/v1/runs/{quote(got, safe='')}/cancel", operator=True)
        return
    err = refused(reply)
    assert err["code"] in {"invalid_id", "invalid_request", "unknown_flow", "bad_request", "run_conflict"}, (
        err
    )
    assert rows(live) == before, "a refused request stored something"


# flow manifests: task keys, fields of the wrong type -------------------------------------------
def _manifest(name: str) -> dict[str, Any]:
    doc = pair_flow().to_dict()
    doc["name"] = name
    doc["jobs"] = [{**j, "job_id": i + 1} for i, j in enumerate(doc["jobs"])]
    return doc


@pytest.mark.parametrize("key", [k for k in HOSTILE_IDS if k not in ("*",)] + ["a.b", "a:b", "x" * 101])
def test_a_manifest_whose_task_key_cannot_be_a_promise_id_is_refused_and_not_stored(
    live: LiveResolver, key: str
) -> None:
    doc = _manifest("keys")
    doc["tasks"][2]["key"] = key
    doc["tasks"][2]["depends_on"] = []
    before = rows(live)
    err = refused(live.call("POST", "/v1/flows", doc, operator=True), 400)
    assert "task keys match" in err["message"], err
    assert rows(live) == before


def test_task_keys_as_databricks_allows_them_run_end_to_end(live: LiveResolver) -> None:
    doc = _manifest("okkeys")
    for t, key in zip(doc["tasks"], ["A-b_9", "x" * 100, "Z"], strict=True):
        old = t["key"]
        t["key"] = key
        for other in doc["tasks"]:
            for d in other["depends_on"]:
                if d["task_key"] == old:
                    d["task_key"] = key
    doc["tasks"][2]["job_parameters"] = {"rows": "{{tasks.A-b_9.values.rows}}"}
    assert live.call("POST", "/v1/flows", doc, operator=True).status == 201
    run = live.call("POST", "/v1/runs", {"flow": "okkeys", "run_id": "ok-keys"}, operator=True)
    assert run.status == 201, run.text[:300]
    handles = live.handles("ok-keys")
    assert set(handles) >= {"A-b_9"} and len(handles) == 2
    for pid, token in handles.values():
        assert (
            live.call("POST", f"/v1/promises/{pid}/resolve", {"value": {"rows": 3}}, token=token).status
            == 200
        )
    assert {t["task_key"] for t in live.call("GET", "/v1/runs/ok-keys", operator=True).json["tasks"]} == {
        "A-b_9",
        "x" * 100,
        "Z",
    }


def _all_paths(node: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    return _paths(node, prefix)


@settings(max_examples=HTTP_EXAMPLES, **SETTINGS)
@given(data=st.data())
def test_a_damaged_manifest_is_refused_or_runs_never_a_500_nor_a_half_run(
    live: LiveResolver, data: st.DataObject
) -> None:
    name = f"mf-{next(_serial)}"
    doc = _manifest(name)
    paths = [p for p in _all_paths(doc) if p and p != ("name",)]
    for _ in range(data.draw(st.integers(1, 3))):
        path = data.draw(st.sampled_from([p for p in _all_paths(doc) if p and p != ("name",)] or paths))
        parent = _parent(doc, path)
        action = data.draw(st.sampled_from(["wrong", "delete", "unknown"]))
        if action == "wrong":
            parent[path[-1]] = data.draw(WRONG_VALUES | st.sampled_from([-1, 0, 10**30, 2**63, True, "1"]))
        elif action == "delete":
            del parent[path[-1]]
        elif isinstance(parent, dict):
            parent["unknown_" + data.draw(st.text(max_size=5))] = data.draw(WRONG_VALUES)
    note(json.dumps(doc, default=str)[:2000])
    published = live.call("POST", "/v1/flows", doc, operator=True)
    if published.status != 201:
        refused(published, 400)
        assert live.call("GET", f"/v1/flows/{name}", operator=True).status == 404
        return
    before = rows(live)
    started = live.call("POST", "/v1/runs", {"flow": name}, operator=True)
    assert started.status < 500, started.text[:300]
    if started.status in (200, 201):
        run_id = started.json["run_id"]
        assert live.call("GET", f"/v1/runs/{run_id}", operator=True).json["tasks"], "a run without its tasks"
        assert live.call("POST", f"/v1/runs/{run_id}/cancel", operator=True).status == 200
    elif refused(started)["code"] != "max_concurrent_runs":  # that one records the run CANCELED
        assert rows(live) == before, "a refused start stored something"


# parameters, query strings, raw HTTP -----------------------------------------------------------
@settings(max_examples=HTTP_EXAMPLES // 2, **SETTINGS)
@given(value=TEXT)
def test_flow_parameter_values_reach_the_job_exactly(live: LiveResolver, value: str) -> None:
    reply = live.call("POST", "/v1/runs", {"flow": "pair", "params": {"day": value}}, operator=True)
    assert reply.status == 201, reply.text[:300]
    run_id = reply.json["run_id"]
    assert reply.json["params"]["day"] == value
    launched = [
        r for r in live.h.launcher.runs.values() if run_id in r.request.parameters["lakehook"] or True
    ]
    assert any(r.request.parameters.get("day") == value for r in launched)
    assert live.call("POST", f"/v1/runs/{run_id}/cancel", operator=True).status == 200


def test_unknown_parameter_names_are_400_naming_them(live: LiveResolver) -> None:
    before = rows(live)
    for name in ("nope", "a\x00b", "\u202e", "x" * 10_000):
        err = refused(
            live.call("POST", "/v1/runs", {"flow": "pair", "params": {name: "1"}}, operator=True), 400
        )
        assert "has no parameter" in err["message"]
    assert rows(live) == before


def test_a_query_string_past_the_request_line_limit_is_414_in_the_error_shape(live: LiveResolver) -> None:
    pid = new_promise(live)
    reply = live.call("POST", f"/resolve?id={pid}&value=" + "v" * 300_001)
    assert refused(reply, 414)["code"] == "uri_too_long"
    long_ok = live.call("POST", f"/resolve?id={pid}&value=" + "v" * 60_000)
    assert long_ok.status == 200 and stored(live, pid)["value"] == "v" * 60_000


@pytest.mark.parametrize(
    ("headers", "body", "status"),
    [
        ({"Content-Length": "abc"}, b"{}", 400),
        ({"Content-Length": "-1"}, b"{}", 400),
        ({"Content-Length": "1e3"}, b"{}", 400),
        ({"Content-Length": str(9 * 1024 * 1024)}, b"{}", 413),
        ({"Transfer-Encoding": "chunked"}, b"2\r\n{}\r\n0\r\n\r\n", 411),
        ({"X-Many": "x" * 70_000}, b"{}", 431),
    ],
    ids=["not-a-number", "negative", "float", "over-8-MiB", "chunked", "huge-header"],
)
def test_what_the_http_server_refuses_is_in_the_error_shape(
    live: LiveResolver, headers: dict[str, str], body: bytes, status: int
) -> None:
    before = rows(live)
    reply = live.raw(
        "POST", "/v1/runs", body, {"Content-Type": "application/json", **live.operator(), **headers}
    )
    refused(reply, status)
    assert rows(live) == before


@pytest.mark.parametrize("method", ["PROPFIND", "TRACE", "BREW", "CONNECT"])
def test_an_unknown_method_is_405_or_404_not_a_501(live: LiveResolver, method: str) -> None:
    assert refused(live.raw(method, "/v1/runs"), 405)["allow"] == ["GET", "POST"]
    refused(live.raw(method, "/nothing/here"), 404)


@pytest.mark.parametrize(
    "value", [float("nan"), float("inf"), {"x": [float("-inf")]}], ids=["nan", "inf", "nested"]
)
def test_a_direct_invocation_with_a_non_finite_value_is_400_and_stores_nothing(
    live: LiveResolver, value: Any
) -> None:
    """Lambda's runtime parses a direct invocation's JSON leniently (NaN, Infinity, 1e400): the
    engine refuses what no JSON reader could read back."""
    from lambda_resolver.http import Services, handle_operator_event

    pid = new_promise(live)
    services = Services(engine=lambda: live.h.engine, signer=live.h.signer)
    answer = handle_operator_event({"lakehook": "resolve", "id": pid, "value": value}, services)
    assert answer["status"] == 400 and answer["body"]["error"]["code"] == "bad_request", answer
    assert stored(live, pid)["state"] == "PENDING"
