"""Requirement normalization: names, specifiers, URLs, de-duplication and known-bad names."""

from __future__ import annotations

import pytest

from pinnace.envs.requirements import (
    canonical_name,
    normalize_requirement,
    normalize_requirements,
    requirement_name,
)
from pinnace.errors import UserInputError


def test_names_are_normalized_sorted_and_deduplicated():
    result = normalize_requirements(["Six >= 1.0", "attrs", "six>=1.0", "Typing_Extensions"])
    assert result.requirements == ("attrs", "six>=1.0", "typing-extensions")
    assert result.fixes == ()


@pytest.mark.parametrize(
    ("written", "normalized"),
    [
        ("pandas>=1.0,<3", "pandas<3,>=1.0"),
        ("pandas >= 1.0 , < 3", "pandas<3,>=1.0"),
        ("typing_extensions (>=3.7, <5)", "typing-extensions<5,>=3.7"),
        ("Pandas[Performance, excel]==2.2.*", "pandas[excel,performance]==2.2.*"),
        ('numpy; python_version >= "3.8"', 'numpy; python_version >= "3.8"'),
        (
            "pip @ https://host/pip-24.0-py3-none-any.whl",
            "pip @ https://host/pip-24.0-py3-none-any.whl",
        ),
        ("git+https://github.com/org/repo.git@main", "git+https://github.com/org/repo.git@main"),
        ("torch===2.1.0+cpu", "torch===2.1.0+cpu"),
        ("  six  ", "six"),
    ],
)
def test_specifiers_urls_and_markers_are_kept(written, normalized):
    assert normalize_requirement(written) == (normalized, None)


def test_bare_urls_sort_after_named_requirements():
    result = normalize_requirements(["git+https://x.example/r.git", "zope"])
    assert result.requirements == ("zope", "git+https://x.example/r.git")


def test_sklearn_is_replaced_with_scikit_learn_and_reported():
    result = normalize_requirements(["sklearn", "SKLearn>=1.3", "numpy"])
    assert result.requirements == ("numpy", "scikit-learn", "scikit-learn>=1.3")
    assert [(f.original, f.replacement) for f in result.fixes] == [
        ("sklearn", "scikit-learn"),
        ("SKLearn", "scikit-learn"),
    ]
    message = str(result.fixes[0])
    assert message.startswith("replaced 'sklearn' with 'scikit-learn' (")
    assert "fails to install" in message


def test_skimage_is_replaced_keeping_extras_and_version():
    text, fix = normalize_requirement("skimage[data]>=0.20")
    assert text == "scikit-image[data]>=0.20"
    assert fix is not None and fix.replacement == "scikit-image"


@pytest.mark.parametrize(
    "bad", ["", "   ", "six==", "==1.0", "foo bar", "--no-deps", "pkg[", "a>=1 <2", "x;", "na me"]
)
def test_malformed_requirements_raise_user_input_error_naming_the_package(bad):
    with pytest.raises(UserInputError) as caught:
        normalize_requirements(["six", bad])
    assert repr(bad) in str(caught.value)
    assert caught.value.hint


def test_non_string_package_is_rejected():
    with pytest.raises(UserInputError, match="not a string"):
        normalize_requirements([3])  # type: ignore[list-item]


def test_requirement_name_and_canonical_name():
    assert canonical_name("Foo_Bar.baz") == "foo-bar-baz"
    assert requirement_name("Foo_Bar[x]>=1; python_version>'3'") == "foo-bar"
    assert requirement_name("kfp==2.17.3") == "kfp"
    assert requirement_name("https://host/x.whl") is None
