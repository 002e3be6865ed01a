"""Vocabularies: tokens to integer ids and back.

Every vocabulary starts with the same four special tokens, at fixed ids, so that a batch
can be padded, started and stopped the same way on both sides of the model.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Sequence

PAD, SOS, EOS, UNK = "<pad>", "<sos>", "<eos>", "<unk>"
SPECIALS = (PAD, SOS, EOS, UNK)
PAD_ID, SOS_ID, EOS_ID, UNK_ID = 0, 1, 2, 3


class Vocab:
    """A fixed mapping between tokens and ids.

    Ids 0-3 are ``<pad>``, ``<sos>``, ``<eos>`` and ``<unk>``; the rest are the tokens seen at
    least ``min_freq`` times, most frequent first (ties broken alphabetically, so the same
    data always gives the same vocabulary).
    """

    def __init__(self, itos: Sequence[str]):
        if tuple(itos[:4]) != SPECIALS:
            raise ValueError(f"a vocabulary must start with {SPECIALS}, got {tuple(itos[:4])}")
        self.itos: list[str] = list(itos)
        self.stoi: dict[str, int] = {tok: i for i, tok in enumerate(self.itos)}
        if len(self.stoi) != len(self.itos):
            raise ValueError("a vocabulary may not hold the same token twice")

    @classmethod
    def build(cls, token_lists: Iterable[Sequence[str]], min_freq: int = 1,
              max_size: int | None = None) -> Vocab:
        """Count tokens over ``token_lists`` and keep those seen ``min_freq`` times or more.

        Args:
            token_lists: one token list per example.
            min_freq: minimum count for a token to get its own id.
            max_size: keep at most this many tokens besides the specials.
        """
        if min_freq < 1:
            raise ValueError("min_freq must be at least 1")
        counts = Counter(tok for tokens in token_lists for tok in tokens)
        kept = sorted((t for t, c in counts.items() if c >= min_freq and t not in SPECIALS),
                      key=lambda t: (-counts[t], t))
        if max_size is not None:
            kept = kept[:max_size]
        return cls(list(SPECIALS) + kept)

    def __len__(self) -> int:
        return len(self.itos)

    def __contains__(self, token: str) -> bool:
        return token in self.stoi

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Vocab) and self.itos == other.itos

    def __repr__(self) -> str:
        return f"Vocab({len(self)} tokens)"

    def encode(self, tokens: Sequence[str], add_sos_eos: bool = False) -> list[int]:
        """Token ids, ``<unk>`` for tokens outside the vocabulary; optionally framed by
        ``<sos>`` ... ``<eos>``."""
        ids = [self.stoi.get(tok, UNK_ID) for tok in tokens]
        return [SOS_ID, *ids, EOS_ID] if add_sos_eos else ids

    def decode(self, ids: Iterable[int]) -> list[str]:
        """Tokens for ``ids``: stops at the first ``<eos>`` and skips ``<sos>`` and ``<pad>``."""
        out = []
        for i in ids:
            i = int(i)
            if i == EOS_ID:
                break
            if i in (SOS_ID, PAD_ID):
                continue
            out.append(self.itos[i])
        return out

    def to_dict(self) -> dict:
        """A plain form that a checkpoint stores (loadable with ``weights_only=True``)."""
        return {"itos": list(self.itos)}

    @classmethod
    def from_dict(cls, state: dict) -> Vocab:
        return cls(state["itos"])
