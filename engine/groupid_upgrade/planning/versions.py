"""R1: which source and target versions are accepted, and which pairs the vendor supports."""

from __future__ import annotations

from ..errors import EngineError
from ..model.settings import SOURCE_VERSIONS, TARGET_VERSIONS

# target -> the sources it accepts (11.1 upgrades "from Directory Manager 10" only)
SUPPORTED_PATHS: dict[str, tuple[str, ...]] = {"11.0": ("9.0", "10.0"), "11.1": ("10.0",)}


def _normalize(value: object) -> str:
    text = str(value).strip()
    return f"{text}.0" if text.isdigit() else text


def normalize_source_version(value: object) -> str:
    version = _normalize(value)
    if version not in SOURCE_VERSIONS:
        raise EngineError(
            "SourceVersionUnsupported",
            f"Source version {value!r} is not supported; GroupID 9.0 and 10.0 can be upgraded.",
            target="source.version",
            recommended_action="Set source.version to 9.0 or 10.0 (also written 9 or 10).",
        )
    return version


def normalize_target_version(value: object) -> str:
    version = _normalize(value)
    if version not in TARGET_VERSIONS:
        raise EngineError(
            "TargetVersionUnsupported",
            f"Target version {value!r} is not supported; the upgrade goes to 11.0 or 11.1.",
            target="target.version",
            recommended_action="Set target.version to 11.0 or 11.1.",
        )
    return version


def check_upgrade_path(source: object, target: object) -> tuple[str, str]:
    """Both versions, normalized; refused before anything else is read."""
    src = normalize_source_version(source)
    tgt = normalize_target_version(target)
    if src not in SUPPORTED_PATHS[tgt]:
        accepted = " or ".join(SUPPORTED_PATHS[tgt])
        raise EngineError(
            "UpgradePathUnsupported",
            f"GroupID {src} cannot be upgraded to {tgt} directly; {tgt} accepts source {accepted}.",
            target=f"source.version {src} -> target.version {tgt}",
            recommended_action=f"Upgrade {src} to 11.0 first, or to 10.0 and then to {tgt}."
            if tgt == "11.1" else "Choose a supported pair.",
        )
    return src, tgt
