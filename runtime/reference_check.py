"""A bundle must reproduce the Keras decodes it was verified with (``reference.json``) before it is used: a config
that lies about its tokens (a reversed table, the start token as the end token, an absurd cap) decodes nonsense
silently otherwise. A few stored decodes, checked at load, cost milliseconds."""

from __future__ import annotations

from typing import Any

from . import config as names
from .bundle import Bundle
from .config import MAX_CONFIG_BYTES, read_bundle_file
from .decoding import BatchTokens, decode_fused, decode_steps
from .errors import BundleFormatError
from .json_files import load_json
from .vocab import CleanRules

CHECKED = 4  # stored decodes checked at load: two texts, at each stored cap
LENIENT = CleanRules(unknown="error", truncate=True, allow_empty=True)


def reference_decodes(bundle: Bundle) -> list[dict[str, Any]]:
    """The stored Keras decodes (none for a bundle without ``reference.json``)."""
    path = bundle.path / names.REFERENCE_NAME
    if not path.is_file():
        return []
    try:
        data = load_json(read_bundle_file(path, MAX_CONFIG_BYTES))
        decodes = data["decodes"]
        if not isinstance(decodes, list):
            raise TypeError("decodes is not a list")
        return [d for d in decodes if _valid(d)]
    except (ValueError, KeyError, TypeError, UnicodeDecodeError) as exc:
        raise BundleFormatError(f"{path} is damaged ({exc}); re-export the bundle") from exc


def _valid(entry: object) -> bool:
    return (
        isinstance(entry, dict)
        and isinstance(entry.get("text"), str)
        and isinstance(entry.get("max_length"), int)
        and isinstance(entry.get("token_ids"), list)
        and isinstance(entry.get("ended"), bool)
    )


def check_reference(bundle: Bundle, count: int = CHECKED) -> None:
    """Decode ``count`` stored texts (step by step, and fused when loaded) and refuse the bundle unless each gives
    the stored Keras tokens."""
    entries = reference_decodes(bundle)
    vocab = bundle.vocabulary
    cap = vocab.loop.max_length if vocab.loop.max_length is not None else vocab.max_decoder_len + 1
    verified = sorted({e["max_length"] for e in entries}) or [cap]
    if cap not in verified:
        raise BundleFormatError(
            f"{bundle.path}: its default cap is {cap} tokens but it was verified at {verified} "
            f"({names.REFERENCE_NAME}); its config was changed: re-export it (or load it with verify=False, CLI "
            "--no-verify, to use it anyway)"
        )
    for entry in _pick(entries, count):
        found = decoded(bundle, entry)
        if found is not None:
            raise _refusal(bundle, entry, found)


def decoded(bundle: Bundle, entry: dict[str, Any]) -> str | None:
    """None if the bundle decodes ``entry``'s text to its stored tokens (step by step, and fused when loaded),
    else what it does instead."""
    vocab = bundle.vocabulary
    at_end = vocab.loop.stops_at_end
    try:
        x = bundle.encoder_input([vocab.clean(entry["text"], LENIENT)])
    except ValueError as exc:  # a text the vocabulary cannot take: the tables changed
        return f"its text no longer fits the vocabulary ({exc})"
    limit = entry["max_length"]
    runs: list[BatchTokens] = [decode_steps(bundle, x, limit, at_end)]
    if bundle.greedy is not None:
        runs.append(decode_fused(bundle, x, limit, at_end))
    for tokens in runs:
        ids, ended = (tokens if at_end else tokens.without_end()).rows()[0]
        if (ids, ended) != (entry["token_ids"], entry["ended"]):
            return f"it decodes {ids} (ended: {ended})"
    return None


def _pick(entries: list[dict[str, Any]], count: int) -> list[dict[str, Any]]:
    """Up to ``count`` entries, the first texts at each stored cap."""
    caps = sorted({e["max_length"] for e in entries}, reverse=True)
    per_cap = max(1, count // max(len(caps), 1))
    picked = []
    for cap in caps:
        picked += [e for e in entries if e["max_length"] == cap][:per_cap]
    return picked[:count]


def _refusal(bundle: Bundle, entry: dict[str, Any], what: str) -> BundleFormatError:
    return BundleFormatError(
        f"{bundle.path} does not reproduce the Keras decodes it was verified with ({names.REFERENCE_NAME}): "
        f"{entry['text']!r} at max_length {entry['max_length']} should give {entry['token_ids']} "
        f"(ended: {entry['ended']}) but {what}; its config or files were changed: re-export it (or load it with "
        "verify=False, CLI --no-verify, to use it anyway)"
    )
