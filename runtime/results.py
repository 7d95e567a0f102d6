"""What a decode returns (:class:`DecodeResult`) and how one is planned (:class:`DecodePlan`)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

from .search import Hypothesis

StopReason = Literal["end", "max_length"]
Method = Literal["greedy", "beam", "sampling"]


@dataclass(frozen=True)
class DecodePlan:
    """How one call decodes: at most ``max_length`` tokens per input, by ``method``, in the fused graph or not."""

    max_length: int
    method: Method
    fused: bool


@dataclass(frozen=True)
class DecodeResult:
    """One decoded input: the text, its token ids, the probability of each chosen token, and why it stopped.
    A beam search adds the best hypothesis' ``score`` and the n-best ``hypotheses`` (best first, texts in
    ``texts``)."""

    text: str
    token_ids: tuple[int, ...]
    probabilities: tuple[float, ...]
    stop_reason: StopReason
    score: float | None = None
    hypotheses: tuple[Hypothesis, ...] = ()
    texts: tuple[str, ...] = ()
    unknown_tokens: int = 0  # tokens of the input the vocabulary did not know (skipped, replaced or OOV)

    def to_dict(self) -> dict[str, Any]:
        found: dict[str, Any] = {
            "text": self.text,
            "token_ids": list(self.token_ids),
            "probabilities": [round(p, 6) for p in self.probabilities],
            "stop_reason": self.stop_reason,
            "unknown_tokens": self.unknown_tokens,
        }
        if self.score is not None:
            found["score"] = round(self.score, 6)
            found["n_best"] = [
                {
                    "text": text,
                    "token_ids": list(h.token_ids),
                    "log_prob": round(h.log_prob, 6),
                    "score": round(h.score, 6),
                }
                for text, h in zip(self.texts, self.hypotheses, strict=True)
            ]
        return found
