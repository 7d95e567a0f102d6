"""How a text becomes tokens, as the model's own tokenizer made them: the example's characters or whitespace words
by default, or a Keras ``Tokenizer``'s rules (``lower``, ``filters``, ``split``, ``oov_token``; see
``keras.preprocessing.text.text_to_word_sequence``), or ``TextVectorization``'s default standardisation."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from .errors import DataFormatError

TEXT_VECTORIZATION_PUNCTUATION = "!\"#$%&()*+,-./:;<=>?@[\\]^_`{|}~'"  # its lower_and_strip_punctuation
MAX_FILTERS = 10_000


@dataclass(frozen=True)
class TextHandling:
    """``lower``: lowercase first; ``filters``: characters turned into ``split`` (Tokenizer) or removed (``strip``);
    ``split``: the word separator (``None``: any whitespace); ``oov_token``: the token unknown words become, as
    the Tokenizer or TextVectorization made them (``None``: unknown words follow the decode options)."""

    lower: bool = False
    filters: str = ""
    split: str | None = None
    strip: bool = False  # remove the filter characters (TextVectorization) instead of splitting on them
    oov_token: str | None = None

    def words(self, text: str) -> list[str]:
        """``text_to_word_sequence``: lowercase, filter characters to the separator, split, drop empty words."""
        text = self.prepared(text)
        return [word for word in (text.split(self.split) if self.split else text.split()) if word]

    def prepared(self, text: str) -> str:
        """The text after ``lower`` and ``filters`` (for characters too: a char-level Tokenizer only lowercases,
        and its filters are empty)."""
        if self.lower:
            text = text.lower()
        if self.filters:
            replacement: str | None = None if self.strip else self.split or " "
            table: dict[str, str | int | None] = dict.fromkeys(self.filters, replacement)
            text = text.translate(str.maketrans(table))
        return text

    @property
    def is_default(self) -> bool:
        return self == TextHandling()

    def to_dict(self) -> dict[str, Any]:
        return {
            "lower": self.lower,
            "filters": self.filters,
            "split": self.split,
            "strip": self.strip,
            "oov_token": self.oov_token,
        }

    @classmethod
    def from_dict(cls, data: object) -> TextHandling:
        if not isinstance(data, dict):
            raise DataFormatError(f"vocabulary: 'text' must be a JSON object, not {type(data).__name__}")
        lower, strip = data.get("lower", False), data.get("strip", False)
        filters, split, oov = data.get("filters", ""), data.get("split"), data.get("oov_token")
        if not isinstance(lower, bool) or not isinstance(strip, bool):
            raise DataFormatError("vocabulary: text.lower and text.strip must be true or false")
        if not isinstance(filters, str) or len(filters) > MAX_FILTERS:
            raise DataFormatError(f"vocabulary: text.filters must be a string of at most {MAX_FILTERS} characters")
        for name, value in (("split", split), ("oov_token", oov)):
            if value is not None and (not isinstance(value, str) or not value):
                raise DataFormatError(f"vocabulary: text.{name} must be a non-empty string or null")
        return cls(lower=lower, filters=filters, split=split, strip=strip, oov_token=oov)


DEFAULT_TEXT = TextHandling()


def tokenizer_text(config: dict[str, Any]) -> TextHandling:
    """A Keras ``Tokenizer`` config's text rules."""
    split = config.get("split", " ")
    return TextHandling(
        lower=bool(config.get("lower", True)),
        filters="" if config.get("char_level") else str(config.get("filters") or ""),
        split=str(split) if split else " ",
        oov_token=config.get("oov_token") or None,
    )


TEXT_VECTORIZATION = TextHandling(lower=True, filters=TEXT_VECTORIZATION_PUNCTUATION, strip=True, oov_token="[UNK]")
