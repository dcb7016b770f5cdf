"""The event-based YAML reader agrees with PyYAML where YAML 1.1 and 1.2 agree, and keeps lines."""

from __future__ import annotations

import re

import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from lambda_resolver.compiler.yamlsrc import YamlError, load_yaml

# "1E5" without a dot: a float in YAML 1.2 (and to the CLI), a string that PyYAML leaves unquoted
_EXPONENT_ONLY = re.compile(r"[-+]?[0-9]+[eE][-+]?[0-9]+")
texts = st.text(max_size=12).filter(lambda t: not _EXPONENT_ONLY.fullmatch(t))
scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(10**12), max_value=10**12),
    st.floats(allow_nan=False, allow_infinity=False, width=32),
    texts,
)
documents = st.recursive(
    scalars,
    lambda inner: st.one_of(
        st.lists(inner, max_size=4),
        # "<<" is YAML's merge key: its handling is tested on its own below, not round-tripped.
        st.dictionaries(texts.filter(lambda k: k not in ("", "<<")), inner, max_size=4),
    ),
    max_leaves=20,
)


@settings(max_examples=200, deadline=None)
@given(doc=documents, flow_style=st.booleans())
def test_what_pyyaml_dumps_reads_back_the_same(doc: object, flow_style: bool) -> None:
    text = yaml.safe_dump(doc, default_flow_style=flow_style, allow_unicode=True)

    assert load_yaml(text).data == yaml.safe_load(text)


def test_every_key_and_list_item_has_its_line() -> None:
    loaded = load_yaml("a:\n  b: 1\n  c:\n    - x\n    - {d: 2}\n")

    assert loaded.lines == {
        ("a",): 1,
        ("a", "b"): 2,
        ("a", "c"): 3,
        ("a", "c", 0): 4,
        ("a", "c", 1): 5,
        ("a", "c", 1, "d"): 5,
    }


def test_duplicate_keys_are_reported_with_their_line() -> None:
    loaded = load_yaml("a: 1\nb: 2\na: 3\n")

    assert loaded.data == {"a": 3, "b": 2}
    assert loaded.duplicates == [(("a",), 3)]


@pytest.mark.parametrize(
    ("text", "line"),
    [
        ("a: [1\n", 2),
        ("a: *nope\n", 1),
        ("a: !custom 1\n", 1),
        ("a: 1\n---\nb: 2\n", 2),
        ("? [a]\n: 1\n", 1),
        ("a: !!int x\n", 1),
    ],
)
def test_broken_or_unsupported_yaml_raises_with_a_line(text: str, line: int) -> None:
    with pytest.raises(YamlError) as err:
        load_yaml(text)
    assert err.value.line == line


def test_scalars_follow_the_yaml_1_2_core_schema() -> None:
    text = (
        "a: yes\nb: on\nc: 010\nd: 0x1F\ne: 0o17\nf: 1.5e3\ng: ~\nh: 2024-01-01\ni: True\nj: '5'\n"
        "k: !!str 5\n"
    )

    assert load_yaml(text).data == {
        "a": "yes", "b": "on", "c": 10, "d": 31, "e": 15, "f": 1500.0, "g": None,
        "h": "2024-01-01", "i": True, "j": "5", "k": "5",
    }  # fmt: skip


def test_a_merge_key_merges_an_anchored_mapping_as_pyyaml_does() -> None:
    text = "base: &b {x: 1, y: 1}\njob:\n  <<: *b\n  y: 2\n"

    assert load_yaml(text).data == yaml.safe_load(text) == {"base": {"x": 1, "y": 1}, "job": {"x": 1, "y": 2}}


def test_a_merge_key_on_a_scalar_is_an_error_with_its_line() -> None:
    with pytest.raises(YamlError, match="merge key"):
        load_yaml("a: 1\njob:\n  <<: 3\n")
