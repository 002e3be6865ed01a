"""Reranking the beam with a reverse model (chapter 9).

Beam search (chapter 6) keeps ``k`` candidates ``Y_1 .. Y_k`` for a description ``x`` and
answers with the one the model itself likes best. The right line is often in the beam but not
on top (the *oracle* rate, the share of descriptions whose reference is anywhere in the beam,
says how often). A second opinion helps pick it: a **reverse model**, the same architecture
trained on the same pairs the other way round (code to English), scores how well a candidate
explains the description, ``log P(x | Y)``. A candidate that drops a word the English asks
for, or adds one it never mentions, explains ``x`` badly even when the forward model likes
it (Yin and Neubig 2019 rerank TranX's beam with this and other features). The candidates are
ranked by

    r(Y) = log P(Y | x) + w_rev log P(x | Y) + w_len |Y|

where ``|Y|`` counts the code tokens (a sum of log-probabilities falls with every token, so
the forward score alone favours short lines) and the weights ``w_rev``, ``w_len`` are chosen
on dev by a grid search (:func:`tune`), never on test. ``log P(Y | x)`` may also be the mean
over several forward models (an ensemble of seeds), each scoring the same candidates.

The reverse model reads the canonical code and writes the canonical English
(:func:`reverse_data`), so that it copies the placeholders ``_STR:i_`` and the names just as
the forward copy model does.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from dataclasses import dataclass

import torch

from seq2code.batching import encode_pairs, pad
from seq2code.beam import beam_search, sequence_log_probs
from seq2code.metrics import exact_match_canonical
from seq2code.tokens import canonicalize
from seq2code.vocab import Vocab

EMPTY_SCORE = -1e4  # log P(x | Y) of an empty candidate: no code explains nothing


def reverse_data(data):
    """``data`` (:class:`seq2code.experiment.Data`) the other way round: the canonical code
    of each pair is the source, its canonical English the target, with vocabularies built on
    them (same profile, cuts and minimum count). Train a reverse model on it with
    ``train_model("copy", data=reverse_data(data), canonical=False)`` (its input is already
    canonical)."""
    from seq2code.experiment import SPLITS, Data  # experiment imports this module's users

    profile = data.profile
    code, english = {}, {}
    for name in SPLITS:
        pairs = [canonicalize(nl, c) for nl, c in zip(data.nl_tokens[name],
                                                        data.code_tokens[name], strict=True)]
        english[name] = [nl for nl, _, _ in pairs]
        code[name] = [c for _, c, _ in pairs]
    src_vocab = Vocab.build(code["train"], min_freq=profile.min_freq)  # code tokens
    tgt_vocab = Vocab.build(english["train"], min_freq=profile.min_freq)  # English tokens
    pairs = {name: encode_pairs(code[name], english[name], src_vocab, tgt_vocab,
                                profile.max_tgt_len, profile.max_src_len) for name in SPLITS}
    return Data(profile, data.train, data.dev, data.test, code, english, src_vocab, tgt_vocab,
                pairs)


@dataclass
class Candidates:
    """The beam's candidates for a list of descriptions (index ``i`` the description, ``j``
    the candidate, best beam score first).

    Attributes:
        views: per description, the English tokens as the forward model reads them.
        mappings: per description, the placeholders' literals (canonical form).
        ids: ``[i][j]`` the candidate's output ids ``y_1 .. y_n``.
        tokens: ``[i][j]`` its code tokens in the model's view (placeholders kept).
        forward: ``[i][j]`` ``log P(Y | x)`` under the forward model (``<eos>`` included
            when the candidate finished).
        finished: ``[i][j]`` whether it ended with ``<eos>`` (False: cut at the length limit).
    """

    views: list[list[str]]
    mappings: list[dict[str, str]]
    ids: list[list[list[int]]]
    tokens: list[list[list[str]]]
    forward: list[list[float]]
    finished: list[list[bool]]

    def __len__(self) -> int:
        return len(self.views)

    def outputs(self, trained) -> list[list[list[str]]]:
        """``[i][j]`` each candidate as code tokens (literals put back)."""
        model = trained.model
        return [[model.output_tokens(ids, view, mapping, trained.tgt_vocab) for ids in row]
                for row, view, mapping in zip(self.ids, self.views, self.mappings, strict=True)]


def _sources(trained, views: Sequence[Sequence[str]]) -> tuple[torch.Tensor, torch.Tensor]:
    """Padded source ids ``[B, S]`` and lengths ``[B]`` of English views."""
    return pad([trained.model.encode_source(view, trained.src_vocab, trained.tgt_vocab)
                for view in views])


def beam_candidates(trained, nl_tokens: Sequence[Sequence[str]], beam: int,
                    max_len: int | None = None, batch_size: int = 64) -> Candidates:
    """The ``beam`` candidates of beam search for each description (English token lists, cut
    to the model's ``max_src_len``)."""
    model, cut = trained.model, trained.max_src_len
    max_len = max_len or trained.max_tgt_len
    views, mappings, ids, forward, finished = [], [], [], [], []
    for start in range(0, len(nl_tokens), batch_size):
        batch = [model.source_view(list(tokens)[:cut] if cut else list(tokens))
                 for tokens in nl_tokens[start:start + batch_size]]
        real = [view for view, _ in batch if view]  # an empty description has no candidate
        src, src_lens = _sources(trained, real) if real else (None, None)  # [B, S], [B]
        found = iter(beam_search(model, src, src_lens, beam, max_len).hypotheses
                     if real else [])
        for view, mapping in batch:
            hyps = next(found) if view else []
            views.append(view)
            mappings.append(mapping)
            ids.append([h.tokens for h in hyps])
            forward.append([h.log_prob for h in hyps])
            finished.append([h.finished for h in hyps])
    tokens = [[[model.token(i, view, trained.tgt_vocab) for i in row] for row in rows]
              for rows, view in zip(ids, views, strict=True)]
    return Candidates(views, mappings, ids, tokens, forward, finished)


def _flat(candidates: Candidates) -> list[tuple[int, int]]:
    return [(i, j) for i, row in enumerate(candidates.ids) for j in range(len(row))]


def _unflat(candidates: Candidates, values: Sequence[float]) -> list[list[float]]:
    out, it = [], iter(values)
    for row in candidates.ids:
        out.append([next(it) for _ in row])
    return out


def forward_scores(trained, candidates: Candidates, batch_size: int = 256) -> list[list[float]]:
    """``[i][j]`` ``log P(Y | x)`` of every candidate under another forward model of the same
    data (another seed: the same vocabularies and view), teacher-forced."""
    flat = _flat(candidates)
    scores: list[float] = []
    for start in range(0, len(flat), batch_size):
        chunk = flat[start:start + batch_size]
        src, src_lens = _sources(trained, [candidates.views[i] for i, _ in chunk])
        scores += sequence_log_probs(trained.model, src, src_lens,
                                     [candidates.ids[i][j] for i, j in chunk],
                                     [candidates.finished[i][j] for i, j in chunk]).tolist()
    return _unflat(candidates, scores)


def reverse_scores(reverse, candidates: Candidates, batch_size: int = 256) -> list[list[float]]:
    """``[i][j]`` ``log P(x | Y)``: how well candidate ``j`` explains description ``i``, under
    the reverse model ``reverse`` (a :class:`~seq2code.experiment.Trained` of
    :func:`reverse_data`); :data:`EMPTY_SCORE` for an empty candidate."""
    model, cut = reverse.model, reverse.max_src_len
    flat = [(i, j) for i, j in _flat(candidates) if candidates.tokens[i][j]]
    scores: dict[tuple[int, int], float] = {}
    for start in range(0, len(flat), batch_size):
        chunk = flat[start:start + batch_size]
        pairs = model.encode_pairs([candidates.tokens[i][j] for i, j in chunk],
                                   [candidates.views[i] for i, _ in chunk], reverse.src_vocab,
                                   reverse.tgt_vocab, cut, reverse.max_tgt_len)
        src, src_lens = pad([source for source, _ in pairs])  # [B, S] the code, read
        english = [target[1:-1] for _, target in pairs]  # x_1 .. x_m, no <sos>/<eos>
        scores.update(zip(chunk, sequence_log_probs(model, src, src_lens, english).tolist(),
                          strict=True))
    return _unflat(candidates, [scores.get(key, EMPTY_SCORE) for key in _flat(candidates)])


def correct(trained, candidates: Candidates, nl_tokens: Sequence[Sequence[str]],
            references: Sequence[Sequence[str]]) -> list[list[bool]]:
    """``[i][j]`` whether candidate ``j`` is the reference, by canonical exact match."""
    return [[exact_match_canonical([output], [reference], [nl]) == 1.0 for output in row]
            for row, nl, reference in zip(candidates.outputs(trained), nl_tokens, references,
                                          strict=True)]


def oracle(right: Sequence[Sequence[bool]]) -> float:
    """Share of descriptions whose reference is anywhere among their candidates."""
    return sum(any(row) for row in right) / max(len(right), 1)


@dataclass(frozen=True)
class Weights:
    """``r(Y) = log P(Y | x) + rev log P(x | Y) + length |Y|``."""

    rev: float = 0.0
    length: float = 0.0


def choose(weights: Weights, forward: Sequence[Sequence[float]],
           reverse: Sequence[Sequence[float]] | None,
           lengths: Sequence[Sequence[int]]) -> list[int]:
    """The index of the best candidate of each description under ``r(Y)`` (the first, the
    beam's own best, on ties)."""
    picks = []
    for i, row in enumerate(forward):
        scores = [row[j] + (weights.rev * reverse[i][j] if reverse is not None else 0.0)
                  + weights.length * lengths[i][j] for j in range(len(row))]
        picks.append(max(range(len(scores)), key=lambda j: (scores[j], -j)) if scores else 0)
    return picks


def accuracy(picks: Sequence[int], right: Sequence[Sequence[bool]]) -> float:
    """Exact match of the picked candidates."""
    return sum(bool(row) and row[j] for j, row in zip(picks, right, strict=True)) / max(
        len(right), 1)


REV_GRID = (0.0, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.8, 1.0, 1.5)
LENGTH_GRID = (-0.5, -0.2, 0.0, 0.1, 0.2, 0.3, 0.5, 0.8, 1.0, 1.5, 2.0)


def tune(forward: Sequence[Sequence[float]], reverse: Sequence[Sequence[float]] | None,
         lengths: Sequence[Sequence[int]], right: Sequence[Sequence[bool]],
         rev_grid: Sequence[float] = REV_GRID,
         length_grid: Sequence[float] = LENGTH_GRID) -> tuple[Weights, float]:
    """The weights of the grid with the highest exact match on these (dev) candidates, and
    that exact match; ties go to the smaller weights (the plainer ranking)."""
    best, best_acc = Weights(), -1.0
    revs = rev_grid if reverse is not None else (0.0,)
    for rev, length in sorted(itertools.product(revs, length_grid),
                              key=lambda w: (abs(w[0]) + abs(w[1]), w)):
        weights = Weights(rev, length)
        acc = accuracy(choose(weights, forward, reverse, lengths), right)
        if acc > best_acc:
            best, best_acc = weights, acc
    return best, best_acc


def lengths_of(candidates: Candidates) -> list[list[int]]:
    """``[i][j]`` ``|Y|``: the candidate's number of code tokens."""
    return [[len(ids) for ids in row] for row in candidates.ids]


def mean_scores(*scores: Sequence[Sequence[float]]) -> list[list[float]]:
    """The element-wise mean of several ``[i][j]`` score tables (an ensemble's
    ``log P(Y | x)``)."""
    return [[sum(values) / len(values) for values in zip(*rows, strict=True)]
            for rows in zip(*scores, strict=True)]


@dataclass
class Scored:
    """Candidates of a split with every feature the ranking reads, and which are right.

    Attributes:
        candidates: the beam's :class:`Candidates`.
        forward: ``[i][j]`` ``log P(Y | x)`` (the mean over the forward models).
        reverse: ``[i][j]`` ``log P(x | Y)`` (None without a reverse model).
        lengths: ``[i][j]`` ``|Y|``.
        right: ``[i][j]`` canonical exact match of the candidate.
    """

    candidates: Candidates
    forward: list[list[float]]
    reverse: list[list[float]] | None
    lengths: list[list[int]]
    right: list[list[bool]]

    def beam_top(self) -> float:
        """Exact match of the beam's own best (its length-normalised score)."""
        return accuracy([0] * len(self.right), self.right)

    def oracle(self) -> float:
        """Share of descriptions whose reference is among the candidates."""
        return oracle(self.right)

    def picks(self, weights: Weights) -> list[int]:
        return choose(weights, self.forward, self.reverse, self.lengths)

    def exact_match(self, weights: Weights) -> float:
        """Exact match of the candidates that ``r(Y)`` with ``weights`` picks."""
        return accuracy(self.picks(weights), self.right)

    def tune(self, **grids) -> tuple[Weights, float]:
        """:func:`tune` on these candidates (call it on dev only)."""
        return tune(self.forward, self.reverse, self.lengths, self.right, **grids)


def score_candidates(forward, nl_tokens: Sequence[Sequence[str]],
                     references: Sequence[Sequence[str]], beam: int, reverse=None,
                     others: Sequence = ()) -> Scored:
    """Beam search with ``forward`` (a :class:`~seq2code.experiment.Trained`), then
    :func:`score` of its candidates."""
    return score(forward, beam_candidates(forward, nl_tokens, beam), nl_tokens, references,
                 reverse=reverse, others=others)


def score(forward, candidates: Candidates, nl_tokens: Sequence[Sequence[str]],
          references: Sequence[Sequence[str]], reverse=None, others: Sequence = ()) -> Scored:
    """Every feature of every candidate of ``forward``'s beam: ``log P(Y | x)`` averaged with
    the forward models ``others`` (other seeds on the same data), ``log P(x | Y)`` under
    ``reverse`` if given, ``|Y|``, and whether it matches its reference (code token lists)."""
    scores = candidates.forward
    if others:
        scores = mean_scores(scores, *[forward_scores(model, candidates) for model in others])
    backward = reverse_scores(reverse, candidates) if reverse is not None else None
    return Scored(candidates, scores, backward, lengths_of(candidates),
                  correct(forward, candidates, nl_tokens, references))
