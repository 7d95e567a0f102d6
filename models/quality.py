"""Translation quality measures that need no extra package (and no TensorFlow): exact match and corpus chrF."""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence

CHRF_ORDER = 6
CHRF_BETA = 2.0


def exact_match(hypotheses: Sequence[str], references: Sequence[str]) -> float:
    """Share of hypotheses equal to their reference, a fraction from 0 to 1 (chrF, below, is in percent as
    sacrebleu prints it)."""
    if not references:
        return 0.0
    return sum(h == r for h, r in zip(hypotheses, references, strict=True)) / len(references)


def _ngrams(text: str, n: int) -> Counter[str]:
    chars = text.replace(" ", "")  # chrF ignores whitespace (as sacrebleu does by default)
    return Counter(chars[i : i + n] for i in range(len(chars) - n + 1))


def chrf(
    hypotheses: Sequence[str], references: Sequence[str], order: int = CHRF_ORDER, beta: float = CHRF_BETA
) -> float:
    """Corpus chrF (Popović 2015; sacrebleu's default chrF2): character n-gram precision and recall for n = 1..6
    from statistics summed over the corpus, averaged over n, combined as an F-beta score, in percent."""
    precisions, recalls = [], []
    for n in range(1, order + 1):
        matches = hyp_total = ref_total = 0
        for hypothesis, reference in zip(hypotheses, references, strict=True):
            hyp, ref = _ngrams(hypothesis, n), _ngrams(reference, n)
            matches += sum((hyp & ref).values())
            hyp_total += sum(hyp.values())
            ref_total += sum(ref.values())
        if hyp_total and ref_total:
            precisions.append(matches / hyp_total)
            recalls.append(matches / ref_total)
    if not precisions:
        return 0.0
    precision, recall = sum(precisions) / len(precisions), sum(recalls) / len(recalls)
    if precision == 0 and recall == 0:
        return 0.0
    factor = beta**2
    return 100.0 * (1 + factor) * precision * recall / (factor * precision + recall)
