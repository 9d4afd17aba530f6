"""Encoder specs → `Encoder` (DESIGN.md §3, "Encoder spec").

A spec is one of:
- `tv:NAME` — a torchvision classification architecture; `tv:NAME:imagenet` (or
  `tv:NAME:IMAGENET1K_V1`, a weights member name) reads its ImageNet weights from torch hub's
  local cache; `weights=FILE` loads a checkpoint into it instead;
- `timm:NAME` — any timm model, random weights unless `weights=FILE`;
- a path to a checkpoint file, whose format is detected (`format=` overrides) and whose
  architecture is recorded in the file or given with `arch=`.

A string that is both an existing path and a `tv:`/`timm:` spec is refused rather than guessed,
as timm's `parse_model_name` does (STYLE.md, "Ambiguous input is refused").
"""

from __future__ import annotations

import dataclasses
import os
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from ..errors import CheckpointError, EncoderSpecError, LayerNotFoundError
from . import formats as _registered_formats  # noqa: F401  (fills FORMATS)
from ._arch import FAMILIES, INIT_SEED, build, imagenet_weights_file, resolve_arch
from ._encoder import HEAD_LAYER, Encoder, state_dict_digest
from ._formats import CheckpointFormat, detect_format
from ._infer import infer_arch
from ._loading import Checkpoint, load_strict, read_checkpoint, safe_load
from ._preprocess import Preprocessing
from ._taps import head_path
from .formats.plain import unwrap

_SPEC = re.compile(r"^(tv|timm):(.+)$")
_CHECKPOINT_SUFFIXES = (".pt", ".pth", ".tar", ".ckpt", ".torch", ".bin", ".safetensors")


def parse_spec(spec: str) -> tuple[str, str, str | None]:
    """Split a spec into (kind, name, weights): ("tv", "resnet50", "imagenet"), ("file", path, None), ...

    Raises:
        EncoderSpecError: the spec is ambiguous (an existing file that also reads as `tv:`/`timm:`;
            write `./SPEC` for the file), malformed, or neither a spec nor a file.
        CheckpointError: it looks like a checkpoint path but no such file exists.

    """
    m = _SPEC.match(spec)
    if m and os.path.exists(spec):
        raise EncoderSpecError(
            f"encoder spec {spec!r} is ambiguous: it is an existing file and also the {FAMILIES[m.group(1)]} model "
            f"{m.group(2)!r}. Write ./{spec} (or an absolute path) for the file; rename or move the file to use the model"
        )
    if m:
        kind, rest = m.groups()
        name, _, weights = rest.partition(":")
        if not name:
            raise EncoderSpecError(f"encoder spec {spec!r} names no model; write {kind}:NAME")
        if kind == "timm" and weights:
            raise EncoderSpecError(
                f"timm specs take no suffix ({spec!r}); load weights with --weights FILE"
            )
        return kind, name, weights or None
    if os.path.exists(spec):
        return "file", spec, None
    if os.sep in spec or spec.endswith(_CHECKPOINT_SUFFIXES):
        raise CheckpointError(f"checkpoint file not found: {spec}")
    raise EncoderSpecError(
        f"cannot read encoder spec {spec!r}: not an existing file, and not tv:NAME (torchvision) or timm:NAME (timm)"
    )


def _open(
    path: str | os.PathLike, forced: str | None, trust: bool
) -> tuple[Checkpoint, CheckpointFormat]:
    ckpt = read_checkpoint(path, trust)
    return ckpt, detect_format(ckpt, forced)


def _same_arch(a: str, b: str) -> bool:
    try:
        return resolve_arch(a) == resolve_arch(b)
    except EncoderSpecError:
        return a.partition(":")[2] == b or b.partition(":")[2] == a or a == b


def _choose_arch(given: str | None, recorded: str | None, file: Path) -> str:
    if given is None and recorded is None:
        raise EncoderSpecError(
            f"{file} does not record its architecture; pass --arch NAME (e.g. tv:resnet50, timm:resnet50)"
        )
    if given is not None and recorded is not None and not _same_arch(given, recorded):
        raise CheckpointError(
            f"{file} records architecture {recorded!r} but {given!r} was asked for; drop --arch, or fix it"
        )
    return given if given is not None else recorded


def _head(model, family: str) -> str | None:
    try:
        return head_path(model, family)
    except LayerNotFoundError:
        return None


def _override(
    base: Preprocessing, given: Preprocessing | Mapping[str, Any] | None
) -> tuple[Preprocessing, str | None]:
    if given is None:
        return base, None
    if isinstance(given, Preprocessing):
        return given, "given by the caller"
    valid = [f.name for f in dataclasses.fields(Preprocessing)]
    unknown = sorted(set(given) - set(valid))
    if unknown:
        raise EncoderSpecError(
            f"unknown preprocessing settings {unknown}; valid: {', '.join(valid)}"
        )
    values = {k: tuple(v) if isinstance(v, list) else v for k, v in given.items()}
    return dataclasses.replace(
        base, **values
    ), f"overridden by the caller: {', '.join(sorted(values))}"


def load_encoder(
    spec: str | os.PathLike,
    weights: str | os.PathLike | None = None,
    *,
    format: str | None = None,
    arch: str | None = None,
    trust_checkpoint: bool = False,
    preprocessing: Preprocessing | Mapping[str, Any] | None = None,
    head: bool | str = False,
) -> Encoder:
    """Build an `Encoder` from a spec, loading weights strictly.

    Args:
        spec: `tv:NAME[:imagenet]`, `timm:NAME`, or a checkpoint path (see the module docstring).
        weights: a checkpoint to load into a `tv:`/`timm:` architecture (plain state dicts,
            optionally under `state_dict`/`model`, with or without `module.`; `.safetensors`).
        format: the checkpoint format's registered name; skips detection (`list_formats()`).
        arch: the architecture of a checkpoint path that does not record one (`tv:resnet50`,
            `timm:resnet50`, or a bare name, which means torchvision's where it has one).
        trust_checkpoint: allow full pickle for files that `weights_only=True` refuses. Only for
            files from a source you trust: unpickling can run arbitrary code.
        preprocessing: a `Preprocessing`, or a dict of settings to change (`{"input_size": (224, 224)}`).
        head: keep the checkpoint's projection head as the extra tap `head` (True: the format's
            own head, e.g. MoCo v2's MLP `fc`; a string: the head's key prefix after mapping).

    A checkpoint path that records no architecture gets one inferred from its key structure and
    shapes (`_infer.infer_arch`); `load_report["arch_source"]` says which of the three applied.

    Returns:
        The encoder in eval mode; `load_report` says what was loaded, dropped and from where.

    Raises:
        EncoderSpecError: malformed, ambiguous or unknown spec or architecture; `weights`/`format`
            with a spec that does not take them. The message says which spelling to use.
        CheckpointError: unreadable file, unknown or ambiguous format (pass `format=`), keys that
            do not fit the architecture (pass `format=` or `arch=`), missing ImageNet file (the
            message gives the path to put it at), pickle needed (pass `trust_checkpoint=True`).

    Example:
        >>> enc = load_encoder("tv:resnet18", weights="r18_moco.pth")
        >>> feats = enc.feature_module(["pooled", "layer3"])(enc.preprocessing.normalize(batch))

    """
    spec = os.fspath(spec)
    kind, name, suffix = parse_spec(spec)
    file = ckpt = fmt = mapped = None
    warnings: list[str] = []
    arch_source = "given by the spec"
    if kind == "file":
        if weights is not None:
            raise EncoderSpecError(
                f"{spec} is already a checkpoint; --weights applies to tv:NAME / timm:NAME specs"
            )
        file = Path(name)
        ckpt, fmt = _open(file, format, trust_checkpoint)
        mapped = fmt.map(ckpt.obj)
        recorded = fmt.arch(ckpt.obj)
        if arch is None and recorded is None:
            inferred = infer_arch(mapped, **fmt.infer_options)
            recorded, arch_source = inferred.arch, f"inferred from the keys: {inferred.reason}"
            warnings += inferred.warnings
        else:
            arch_source = "given (--arch)" if arch is not None else "recorded in the file"
        prefix, arch_name = resolve_arch(_choose_arch(arch, recorded, file))
    else:
        prefix, arch_name = kind, name
        if arch is not None and not _same_arch(arch, f"{kind}:{name}"):
            raise EncoderSpecError(
                f"--arch {arch} contradicts spec {spec}; --arch applies to checkpoint paths"
            )
        if weights is not None:
            if suffix:
                raise EncoderSpecError(f"give either {spec} or --weights {weights}, not both")
            file = Path(os.fspath(weights))
            ckpt, fmt = _open(file, format, trust_checkpoint)
            mapped = fmt.map(ckpt.obj)
            _choose_arch(f"{prefix}:{arch_name}", fmt.arch(ckpt.obj), file)
        elif format is not None:
            raise EncoderSpecError(
                f"--format {format} applies to a checkpoint file; pass --weights FILE with it"
            )
    if head and fmt is None:
        raise EncoderSpecError("--head keeps a checkpoint's projection head; it needs a checkpoint file")
    model, base, note = build(prefix, arch_name)
    family = FAMILIES[prefix]
    clf = _head(model, family)
    qualified = f"{prefix}:{arch_name}"
    projection = None
    if fmt is not None:
        report = load_strict(
            model,
            mapped,
            source=str(file),
            known_heads=fmt.heads,
            head=clf,
            format_name=fmt.name,
            arch=qualified,
        )
        report["pickled"] = ckpt.pickled
        report["arch"] = qualified
        report["arch_source"] = arch_source
        report["warnings"] = list(fmt.warnings) + warnings
        if head:
            projection = _projection(mapped, fmt, head)
            report["projection_head"] = {
                "tap": HEAD_LAYER,
                "prefix": head if isinstance(head, str) else fmt.head_tap,
                "layers": str(projection),
            }
        recorded = fmt.preprocessing(ckpt.obj)
        if recorded is not None:
            if base.input_norm != "none":  # an input layer asked for in the architecture stays
                recorded = dataclasses.replace(recorded, input_norm=base.input_norm)
            base, note = recorded, f"recorded for the {fmt.name} format"
    elif suffix:
        weights_name, path = imagenet_weights_file(arch_name, suffix)
        obj, _ = safe_load(path)
        report = load_strict(
            model,
            unwrap(obj),
            source=str(path),
            known_heads=(),
            head=clf,
            format_name="plain",
            arch=qualified,
        )
        report["weights"] = weights_name
    else:
        report = {
            "weights": f"random init (seed {INIT_SEED})",
            "digest": state_dict_digest(model.state_dict()),
        }
    pre, changed = _override(base, preprocessing)
    report["preprocessing_source"] = changed or note
    if kind == "file":
        report["display_name"] = file.name
    enc = Encoder(
        spec=spec,
        arch=arch_name,
        family=family,
        model=model.eval(),
        preprocessing=pre,
        load_report=report,
        _digest=None if projection is not None else report["digest"],
        projection=projection,
    )
    report["digest"] = enc.digest
    return enc


def _projection(mapped: Mapping[str, Any], fmt: CheckpointFormat, head: bool | str):
    from .formats._common import mlp_from_state

    prefix = head if isinstance(head, str) else fmt.head_tap
    if prefix is None:
        raise EncoderSpecError(
            f"format {fmt.name!r} has no projection head that --head can keep; pass --head PREFIX to name one "
            "(a key prefix such as fc or projector)"
        )
    return mlp_from_state(mapped, prefix)
