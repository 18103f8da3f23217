"""The shipped model on disk: ``weights.npz`` (float16 weights, float32 biases) and
``manifest.json`` (version, feature config, heads, calibration, thresholds, unsure bands,
checksums of the training data).

The version is derived from the weights and the decision settings (``ngram-`` + a short
hash), so two artefacts with the same version are the same model, and a manifest that does
not match its weights is refused.
"""

from __future__ import annotations

import hashlib
import json
import zipfile
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from services.classifier.model.features import FeatureConfig

FORMAT = 1
MANIFEST = "manifest.json"
WEIGHTS = "weights.npz"


class ArtefactError(RuntimeError):
    """The artefact directory is missing, unreadable or inconsistent."""


@dataclass(frozen=True, slots=True)
class Band:
    """Decision threshold and unsure band of one head, on the calibrated probability."""

    threshold: float
    low: float
    high: float


@dataclass(frozen=True, slots=True)
class Manifest:
    version: str
    features: FeatureConfig
    heads: tuple[str, ...]
    calibration: dict[str, tuple[float, float]]
    bands: dict[str, Band]
    data: dict[str, str] = field(default_factory=dict)
    training: dict[str, Any] = field(default_factory=dict)

    def decisions(self) -> dict[str, Any]:
        """What, with the weights, decides a verdict (hashed into the version)."""
        return {
            "features": asdict(self.features),
            "heads": list(self.heads),
            "calibration": {k: list(v) for k, v in self.calibration.items()},
            "bands": {k: asdict(v) for k, v in self.bands.items()},
        }

    def to_json(self) -> str:
        body = {
            "format": FORMAT,
            "version": self.version,
            "features": asdict(self.features),
            "heads": list(self.heads),
            "calibration": {k: list(v) for k, v in self.calibration.items()},
            "bands": {k: asdict(v) for k, v in self.bands.items()},
            "data": self.data,
            "training": self.training,
        }
        return json.dumps(body, indent=2, sort_keys=True) + "\n"

    @classmethod
    def from_json(cls, text: str) -> Manifest:
        body = json.loads(text)
        if body.get("format") != FORMAT:
            raise ArtefactError(f"unsupported artefact format {body.get('format')!r}")
        return cls(
            version=str(body["version"]),
            features=FeatureConfig(**body["features"]),
            heads=tuple(body["heads"]),
            calibration={k: (float(a), float(b)) for k, (a, b) in body["calibration"].items()},
            bands={k: Band(**v) for k, v in body["bands"].items()},
            data=dict(body.get("data", {})),
            training=dict(body.get("training", {})),
        )


@dataclass(frozen=True, slots=True)
class Artefact:
    manifest: Manifest
    weights: npt.NDArray[np.float32]  # (buckets, heads)
    bias: npt.NDArray[np.float32]  # (heads,)


def derive_version(
    weights: npt.NDArray[np.float16],
    bias: npt.NDArray[np.float32],
    decisions: Mapping[str, Any],
) -> str:
    """``ngram-`` + a hash of the weights and of everything that decides with them."""
    digest = hashlib.sha256()
    digest.update(np.ascontiguousarray(weights, dtype="<f2").tobytes())
    digest.update(np.ascontiguousarray(bias, dtype="<f4").tobytes())
    digest.update(json.dumps(decisions, sort_keys=True).encode())
    return f"ngram-{digest.hexdigest()[:10]}"


def versioned(
    manifest: Manifest, weights: npt.NDArray[np.float16], bias: npt.NDArray[np.float32]
) -> Manifest:
    """``manifest`` with the version its weights and settings give."""
    return replace(manifest, version=derive_version(weights, bias, manifest.decisions()))


def save(
    directory: Path,
    manifest: Manifest,
    weights: npt.NDArray[np.float16],
    bias: npt.NDArray[np.float32],
) -> None:
    directory.mkdir(parents=True, exist_ok=True)
    np.savez_compressed(directory / WEIGHTS, weights=weights, bias=bias)
    (directory / MANIFEST).write_text(manifest.to_json(), encoding="utf-8")


def load(directory: Path) -> Artefact:
    """The artefact in ``directory``; ``ArtefactError`` saying what is wrong otherwise."""
    manifest_path, weights_path = directory / MANIFEST, directory / WEIGHTS
    for path in (manifest_path, weights_path):
        if not path.is_file():
            raise ArtefactError(f"{path}: missing (train one with `vigie classifier train`)")
    try:
        manifest = Manifest.from_json(manifest_path.read_text(encoding="utf-8"))
    except (ValueError, KeyError, TypeError) as exc:
        raise ArtefactError(f"{manifest_path}: not a valid manifest ({exc})") from None
    try:
        with np.load(weights_path, allow_pickle=False) as stored:
            weights16, bias = stored["weights"], stored["bias"].astype(np.float32)
    except (OSError, ValueError, KeyError, zipfile.BadZipFile) as exc:
        raise ArtefactError(f"{weights_path}: unreadable weights ({exc})") from None
    expected = (manifest.features.buckets, len(manifest.heads))
    if weights16.shape != expected or bias.shape != (len(manifest.heads),):
        raise ArtefactError(
            f"{weights_path}: weights of shape {weights16.shape}, manifest expects {expected}"
        )
    if derive_version(weights16, bias, manifest.decisions()) != manifest.version:
        raise ArtefactError(f"{directory}: weights or settings do not match the version")
    missing = [h for h in manifest.heads if h not in manifest.calibration]
    if missing:
        raise ArtefactError(f"{manifest_path}: no calibration for {', '.join(missing)}")
    return Artefact(manifest=manifest, weights=weights16.astype(np.float32), bias=bias)
