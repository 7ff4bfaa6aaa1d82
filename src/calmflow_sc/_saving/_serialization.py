"""Plain-JSON encoding of a model's attributes (registry, arguments, history).

Saved models hold no pickles: every non-tensor attribute is written as JSON, with numpy arrays
and pandas frames tagged so that they come back with their dtype, shape and index. Anything
else is refused when saving, so that loading never has to run code to rebuild an object.
"""

from __future__ import annotations

import math
from pathlib import PurePath
from typing import Any

import numpy as np
import pandas as pd

_ARRAY = "__ndarray__"
_FRAME = "__dataframe__"
_TUPLE = "__tuple__"
_FLOAT = "__float__"


class SerializationError(TypeError):
    """An attribute that cannot be written as plain JSON."""


def _float(value: float) -> float | dict:
    """A float, with NaN and infinities spelled out (strict JSON has neither)."""
    if math.isfinite(value):
        return value
    return {_FLOAT: repr(float(value))}  # "nan", "inf", "-inf" (not numpy's repr)


def _array(value: np.ndarray, where: str) -> dict:
    if value.dtype.kind in "biuf":
        data = value.tolist() if value.dtype.kind != "f" else [_float(v) for v in value.ravel()]
        return {_ARRAY: data, "dtype": value.dtype.str, "shape": list(value.shape)}
    if value.dtype.kind in "OUS":
        items = value.ravel().tolist()
        if items and all(
            item is None or isinstance(item, int | float | np.number) for item in items
        ):  # e.g. a history column of Python floats: saved as float64
            numbers = np.array([np.nan if item is None else item for item in items], float)
            return _array(numbers.reshape(value.shape), where)
        if not all(isinstance(item, str | bytes) for item in items):
            kinds = sorted({type(item).__name__ for item in items})
            raise SerializationError(
                f"{where}: an object array holds {kinds}; only strings can be saved."
            )
        strings = [item.decode() if isinstance(item, bytes) else item for item in items]
        return {_ARRAY: strings, "dtype": "str", "shape": list(value.shape)}
    raise SerializationError(f"{where}: arrays of dtype {value.dtype} cannot be saved.")


def to_json_value(value: Any, where: str = "value") -> Any:
    """Encode ``value`` as plain JSON (nested dicts, lists, strings, numbers, ``None``).

    Parameters
    ----------
    value
        Dicts with string keys, lists, tuples, strings, numbers, booleans, ``None``, paths,
        numpy arrays and scalars, and pandas frames.
    where
        Name of the value, for errors.

    Raises
    ------
    SerializationError
        For any other type, naming where it was found.
    """
    if value is None or isinstance(value, bool | str):
        return value
    if isinstance(value, np.bool_):
        return bool(value)
    if isinstance(value, int | np.integer):
        return int(value)
    if isinstance(value, float | np.floating):
        return _float(float(value))
    if isinstance(value, PurePath):
        return str(value)
    if isinstance(value, np.ndarray):
        return _array(value, where)
    if isinstance(value, pd.DataFrame):
        return {
            _FRAME: {
                "columns": [str(column) for column in value.columns],
                "index": to_json_value(np.asarray(value.index), f"{where}.index"),
                "index_name": value.index.name,
                "data": {
                    str(column): to_json_value(value[column].to_numpy(), f"{where}[{column}]")
                    for column in value.columns
                },
            }
        }
    if isinstance(value, dict):
        encoded = {}
        for key, item in value.items():
            if not isinstance(key, str):
                raise SerializationError(f"{where}: key {key!r} is not a string.")
            encoded[key] = to_json_value(item, f"{where}.{key}")
        return encoded
    if isinstance(value, tuple):
        return {_TUPLE: [to_json_value(v, f"{where}[{i}]") for i, v in enumerate(value)]}
    if isinstance(value, list):
        return [to_json_value(v, f"{where}[{i}]") for i, v in enumerate(value)]
    raise SerializationError(
        f"{where} is a {type(value).__name__}, which cannot be saved as plain data."
    )


def _decode_float(value: Any) -> float:
    if isinstance(value, dict):
        spelled = value[_FLOAT]
        if spelled.endswith(")"):  # "np.float64(nan)", as numpy 2's repr wrote it before
            spelled = spelled[spelled.index("(") + 1 : -1]
        return float(spelled)
    return float(value)


def from_json_value(value: Any) -> Any:
    """Decode what :func:`to_json_value` wrote."""
    if isinstance(value, list):
        return [from_json_value(v) for v in value]
    if not isinstance(value, dict):
        return value
    if _FLOAT in value:
        return _decode_float(value)
    if _TUPLE in value:
        return tuple(from_json_value(v) for v in value[_TUPLE])
    if _ARRAY in value:
        shape = tuple(value["shape"])
        if value["dtype"] == "str":
            return np.array(value[_ARRAY], dtype=object).reshape(shape)
        dtype = np.dtype(value["dtype"])
        data = value[_ARRAY]
        if dtype.kind == "f":
            data = [_decode_float(v) for v in data]
        return np.asarray(data, dtype=dtype).reshape(shape)
    if _FRAME in value:
        frame = value[_FRAME]
        index = pd.Index(from_json_value(frame["index"]), name=frame["index_name"])
        data = {column: from_json_value(frame["data"][column]) for column in frame["columns"]}
        return pd.DataFrame(data, index=index, columns=frame["columns"])
    return {key: from_json_value(item) for key, item in value.items()}
