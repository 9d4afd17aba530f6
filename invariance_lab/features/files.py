"""Feature files made elsewhere: the paper's `alldata.pth` and `.npz` with the same keys.

Both hold `feat` (N × D), `instance` (N set labels) and optionally `classes` (N class labels)
(DESIGN.md §3). The paper's extract scripts wrote `feat` as a float64 NumPy array
(`np.zeros((N, D))` filled row by row) and the labels as Python lists of ints (ALOI) or strings
(GOT-10k, Pascal3D+), then `torch.save`d the dict. Such a file needs NumPy's array-reconstruction
globals to unpickle; `torch.load(weights_only=True)` refuses them unless allow-listed, so exactly
those are allow-listed (`numpy_safe_globals`) and nothing else. Full pickle is never used: a file
that needs any other global is refused with `FeatureFileError`.

Non-finite values are not checked here; the metric checks them (`MetricInputError`).
"""

from __future__ import annotations

import io
import os
import pickle
import zipfile
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np
import torch

from ..errors import FeatureFileError
from .cache import atomic_write_bytes

_FLOAT_KEEP = (np.float32, np.float64)


def numpy_safe_globals() -> list[Any]:
    """NumPy globals needed to rebuild arrays (and array scalars) under `weights_only=True`.

    `_reconstruct` and `scalar` are listed under both module names: files written with NumPy 1.x
    refer to `numpy.core.multiarray`, NumPy 2.x writes `numpy._core.multiarray`. NumPy ≥ 1.25
    rebuilds `np.dtype("f8")` as an instance of `numpy.dtypes.Float64DType`, which torch must be
    allowed to BUILD, hence the plain (non-object) dtype classes.
    """
    try:
        from numpy._core import multiarray  # NumPy 2.x
    except ImportError:  # pragma: no cover - NumPy 1.26
        from numpy.core import multiarray
    out: list[Any] = [np.ndarray, np.dtype]
    for fn in (multiarray._reconstruct, multiarray.scalar):
        out += [
            (fn, f"numpy.core.multiarray.{fn.__name__}"),
            (fn, f"numpy._core.multiarray.{fn.__name__}"),
        ]
    names = [
        "BoolDType", "Int8DType", "Int16DType", "Int32DType", "Int64DType", "UInt8DType", "UInt16DType",
        "UInt32DType", "UInt64DType", "Float16DType", "Float32DType", "Float64DType", "LongDoubleDType",
        "ByteDType", "UByteDType", "ShortDType", "UShortDType", "IntDType", "UIntDType", "LongDType",
        "ULongDType", "LongLongDType", "ULongLongDType", "StrDType", "BytesDType",
    ]  # fmt: skip
    dtypes = getattr(np, "dtypes", None)
    out += [getattr(dtypes, nm) for nm in names if dtypes is not None and hasattr(dtypes, nm)]
    return out


class FeatureFile(NamedTuple):
    """Contents of a features file; unpacks as `feat, instance, classes = load_feature_file(p)`.

    Attributes:
        feat: (N, D) array in its stored float dtype: float64 for the paper's files (keep it for an
            exact reproduction of the paper's numbers, or `.astype(np.float32)`), float32 when
            stored so; other dtypes (float16, bfloat16 tensors, ints) are converted to float32.
        instance: (N,) set labels as a NumPy array (int64 for ints, str for strings).
        classes: (N,) class labels, or None when the file has none.

    """

    feat: np.ndarray
    instance: np.ndarray
    classes: np.ndarray | None

    @property
    def was_float64(self) -> bool:
        """True when `feat` was stored as float64 (the paper's files)."""
        return self.feat.dtype == np.float64


def load_feature_file(path: str | os.PathLike) -> FeatureFile:
    """Read `feat`, `instance` and optional `classes` from an `alldata.pth` or `.npz` file.

    Args:
        path: a `torch.save`d dict (`.pth`, `.pt`, any other suffix) or an `.npz` archive.

    Returns:
        A `FeatureFile` (feat, instance, classes); see its docstring for dtypes.

    Raises:
        FeatureFileError: naming the file (and key) when it cannot be read safely, a key is
            missing, `feat` is not 2-D, or the label lengths differ from `feat`'s rows.

    Example:
        >>> feat, instance, classes = load_feature_file("aloi_viewpoint/alldata.pth")  # doctest: +SKIP

    """
    p = Path(path)
    if not p.is_file():
        raise FeatureFileError(f"features file {p} does not exist")
    data = _read_npz(p) if _is_npz(p) else _read_torch(p)
    if not isinstance(data, dict):
        raise FeatureFileError(
            f"{p}: expected a dict with keys 'feat', 'instance' (and 'classes'), got {type(data).__name__}"
        )
    for key in ("feat", "instance"):
        if key not in data:
            raise FeatureFileError(
                f"{p}: missing key {key!r} (keys present: {sorted(map(str, data))})"
            )
    feat = _as_array(data["feat"], p, "feat")
    if feat.ndim != 2:
        raise FeatureFileError(
            f"{p}: key 'feat' must be 2-D (N images × D features), got shape {feat.shape}"
        )
    if not np.issubdtype(feat.dtype, np.number) or np.issubdtype(feat.dtype, np.complexfloating):
        raise FeatureFileError(f"{p}: key 'feat' must hold real numbers, got dtype {feat.dtype}")
    if feat.dtype.type not in _FLOAT_KEEP:
        feat = feat.astype(np.float32)
    labels = {}
    for key in ("instance", "classes"):
        if data.get(key) is None:
            labels[key] = None
            continue
        arr = _as_array(data[key], p, key).reshape(-1) if np.ndim(data[key]) else None
        if arr is None or len(arr) != feat.shape[0]:
            got = 0 if arr is None else len(arr)
            raise FeatureFileError(
                f"{p}: key {key!r} has {got} labels but 'feat' has {feat.shape[0]} rows"
            )
        if arr.dtype == object:  # lists mixing ints and strings: compare labels as strings
            arr = arr.astype(str)
        labels[key] = arr
    return FeatureFile(feat, labels["instance"], labels["classes"])


def save_feature_file(path: str | os.PathLike, feat, instance, classes=None) -> Path:
    """Write features in the layout `load_feature_file` reads (atomically).

    `.npz` writes plain arrays (no pickle); any other suffix writes a `torch.save`d dict as the
    paper did (`feat` a NumPy array, labels as Python lists), loadable with `weights_only=True`.

    Args:
        path: target file; its suffix picks the format.
        feat: (N, D) features (NumPy array or tensor); its float dtype is kept.
        instance: (N,) set labels.
        classes: optional (N,) class labels.

    Returns:
        The path written.

    """
    p = Path(path)
    f = feat.detach().cpu().numpy() if isinstance(feat, torch.Tensor) else np.asarray(feat)
    lab = {"instance": instance, "classes": classes}
    lab = {
        k: (v.detach().cpu().numpy() if isinstance(v, torch.Tensor) else np.asarray(v))
        for k, v in lab.items()
        if v is not None
    }
    for k, v in lab.items():
        if f.ndim != 2 or len(v) != f.shape[0]:
            raise FeatureFileError(f"{p}: {k!r} has {len(v)} labels for feat of shape {f.shape}")
    buf = io.BytesIO()
    if _is_npz(p):
        np.savez(buf, feat=f, **lab)
    else:
        torch.save({"feat": f, **{k: v.tolist() for k, v in lab.items()}}, buf)
    atomic_write_bytes(p, buf.getvalue())
    return p


def _is_npz(p: Path) -> bool:
    return p.suffix.lower() == ".npz"


def _read_npz(p: Path) -> dict[str, Any]:
    try:
        with np.load(p, allow_pickle=False) as z:
            return {k: z[k] for k in z.files}
    except ValueError as exc:  # object arrays need pickle, which we refuse
        raise FeatureFileError(
            f"{p}: cannot read without pickle ({exc}); store labels as int or str arrays"
        ) from exc
    except (OSError, zipfile.BadZipFile, EOFError) as exc:
        raise FeatureFileError(
            f"{p}: not a readable .npz file ({type(exc).__name__}: {exc})"
        ) from exc


def _read_torch(p: Path) -> Any:
    try:
        with torch.serialization.safe_globals(numpy_safe_globals()):
            return torch.load(p, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as exc:
        msg = str(exc).split("Check the documentation")[0].strip()
        raise FeatureFileError(
            f"{p}: refused to unpickle: it needs objects other than tensors and NumPy arrays "
            f"(loading uses weights_only=True, never full pickle). Re-save it with plain arrays or "
            f"lists, e.g. with invariance_lab.features.save_feature_file. Details: {msg[-500:]}"
        ) from exc
    except Exception as exc:  # RuntimeError, EOFError, ... for truncated or foreign files
        raise FeatureFileError(
            f"{p}: not a readable torch file ({type(exc).__name__}: {exc})"
        ) from exc


def _as_array(value: Any, p: Path, key: str) -> np.ndarray:
    if isinstance(value, torch.Tensor):
        t = value.detach().cpu()
        return (t.float() if t.dtype == torch.bfloat16 else t).numpy()
    try:
        return np.asarray(value)
    except (ValueError, TypeError) as exc:
        raise FeatureFileError(
            f"{p}: key {key!r} is not an array or list ({type(value).__name__}: {exc})"
        ) from exc
