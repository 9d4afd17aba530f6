"""`convert`: any recognised checkpoint → the plain backbone, plus a JSON sidecar.

The output is what `load_encoder` filled from the checkpoint (the backbone; the classifier too when
the file had one that fits), in the architecture's own key names, so that other tools can load it
with `model.load_state_dict(...)`:

- `OUT.safetensors`: the tensors, and the sidecar's content as the metadata entry
  `invariance_lab` (JSON);
- `OUT.pth`: `{"state_dict": tensors, "invariance_lab": sidecar}` (opens with
  `torch.load(weights_only=True)`);
- `OUT.<suffix>.json`: the sidecar: source file and format, arch (`tv:resnet50`), dropped keys,
  digest, preprocessing, warnings.

Loading OUT back with `load_encoder(OUT)` (format `converted`) gives the same digest and features.
"""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path
from typing import Any

import torch

from ..errors import CheckpointError
from ._loading import SAFETENSORS_META_KEY
from ._spec import load_encoder

FORMAT_TAG = "invariance-lab-backbone"
SUFFIXES = (".safetensors", ".pth", ".pt")


def _atomic(path: Path, write) -> None:
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    os.close(fd)
    try:
        write(tmp)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def convert_checkpoint(
    src: str | os.PathLike,
    out: str | os.PathLike,
    *,
    format: str | None = None,
    arch: str | None = None,
    trust_checkpoint: bool = False,
) -> dict[str, Any]:
    """Load `src` strictly (format detected unless given) and write its backbone to `out`.

    Args:
        src: a checkpoint file of any registered format.
        out: destination, `.safetensors` or `.pth`/`.pt`; the sidecar goes to `out + ".json"`.
        format: the source format (None or "auto": detect).
        arch: the architecture when the file neither records it nor lets it be inferred.
        trust_checkpoint: allow full pickle for the source (trusted files only).

    Returns:
        The sidecar dict (also written as JSON).

    Raises:
        CheckpointError: as `load_encoder`; or an output suffix other than .safetensors/.pth/.pt.

    Example:
        >>> convert_checkpoint("moco_v2_800ep_pretrain.pth.tar", "mocov2_r50.safetensors")

    """
    out = Path(out)
    if out.suffix not in SUFFIXES:
        raise CheckpointError(f"output {out} must end in {', '.join(SUFFIXES)}")
    enc = load_encoder(os.fspath(src), format=None if format in (None, "auto") else format, arch=arch,
                       trust_checkpoint=trust_checkpoint)  # fmt: skip
    report = enc.load_report
    state = enc.model.state_dict()
    unfilled = set(report.get("missing_allowed", []))
    clf = report.get("head")
    keep = {k: v.detach().cpu().contiguous() for k, v in state.items() if k not in unfilled}
    if clf != "loaded from checkpoint":  # the classifier was not in the file: leave it out
        from ._spec import _head

        prefix = _head(enc.model, enc.family)
        if prefix:
            keep = {k: v for k, v in keep.items() if not k.startswith(prefix + ".")}
    sidecar = {
        "format": FORMAT_TAG,
        "version": 1,
        "source": str(src),
        "source_format": report["format"],
        "arch": report["arch"],
        "arch_source": report.get("arch_source"),
        "digest": enc.digest,
        "n_tensors": len(keep),
        "dropped": report.get("dropped", {}),
        "warnings": report.get("warnings", []),
        "preprocessing": enc.preprocessing.to_dict(),
        "preprocessing_source": report.get("preprocessing_source"),
    }
    out.parent.mkdir(parents=True, exist_ok=True)
    if out.suffix == ".safetensors":
        from safetensors.torch import save_file

        _atomic(out, lambda p: save_file(keep, p, metadata={SAFETENSORS_META_KEY: json.dumps(sidecar)}))
    else:
        _atomic(out, lambda p: torch.save({"state_dict": keep, SAFETENSORS_META_KEY: sidecar}, p))
    side = Path(f"{out}.json")
    _atomic(side, lambda p: Path(p).write_text(json.dumps(sidecar, indent=2) + "\n"))
    return sidecar
