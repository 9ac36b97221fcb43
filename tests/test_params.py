"""Parameter parsing and validation: the forms users type, and one clear error for everything else."""

import pytest

from parbench.errors import UserError
from parbench.params import Param, parse_float, parse_int, resolve


@pytest.mark.parametrize(("text", "value"), [("1000", 1000), ("10_000_000", 10_000_000), ("1e6", 1_000_000),
                                             ("2**20", 2**20), (" 42 ", 42), (7, 7)])
def test_parse_int_accepts_the_usual_spellings(text: object, value: int) -> None:
    """Underscores, scientific notation and powers all parse to the exact integer."""
    assert parse_int(text, "size") == value


@pytest.mark.parametrize("text", ["abc", "1.5", "1e-3", "nan", "inf", "", "2**99999", True])
def test_parse_int_rejects_non_integers(text: object) -> None:
    """Anything that is not a whole number (or an absurd power) is a UserError naming the field."""
    with pytest.raises(UserError, match="size"):
        parse_int(text, "size")


@pytest.mark.parametrize("text", ["nan", "inf", "-inf", "x"])
def test_parse_float_rejects_non_finite(text: str) -> None:
    """NaN and infinities are refused, not silently slept on."""
    with pytest.raises(UserError, match="delay"):
        parse_float(text, "delay")


def test_resolve_suggests_the_closest_name() -> None:
    """An unknown parameter name lists what is accepted and suggests the closest one."""
    params = (Param("size", int, 1, "n", minimum=1), Param("kernel", str, "python", "k", choices=("python", "numpy")))
    with pytest.raises(UserError, match=r"did you mean 'kernel'"):
        resolve(params, {"kernal": "numpy"}, "array-sum")


def test_resolve_fills_defaults_and_checks_bounds() -> None:
    """Missing parameters take their default; values outside bounds or choices are errors."""
    params = (Param("size", int, 5, "n", minimum=1), Param("kernel", str, "python", "k", choices=("python", "numpy")))
    assert resolve(params, {}, "w") == {"size": 5, "kernel": "python"}
    with pytest.raises(UserError, match=">= 1"):
        resolve(params, {"size": "0"}, "w")
    with pytest.raises(UserError, match="not one of"):
        resolve(params, {"kernel": "cuda"}, "w")
