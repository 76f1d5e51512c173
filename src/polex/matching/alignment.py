"""Name comparison: align the parts of one name with the parts of many others at once.

Two names are compared part by part, in any order. Every query part (or run of up to three
adjacent parts, so that "Abdul Rahman" meets "Abdulrahman" and "Xi Jin Ping" meets
"Xi Jinping") is scored against every candidate part (or run of parts); the best pairs are
taken greedily, each part used once. The name score is the weighted mean of the pair scores,
where parts left unmatched count as zeros: a query part missing from the candidate weighs
``MISSING_QUERY_PART``, a candidate part absent from the query ``EXTRA_CANDIDATE_PART``
(watch-list entries often carry more names than a query), and particles, honorifics and
initials weigh less than other parts (``names.TOKEN_WEIGHTS``).

A pair of parts scores, taking the best that applies:

- 1.0 when their Latin forms agree after folding OCR look-alikes (two Han tokens: when
  their characters agree);
- ``DOUBLED_SCORE`` when they agree once doubled letters are written once;
- ``VARIANT_SCORE`` when they share a variant group (Wikidata name groups across scripts,
  nicknames);
- ``1 - EDIT_PENALTY * d / n`` for ``d`` edits (optimal string alignment, so a swap of two
  letters is one edit) in ``n`` letters, when ``d`` is within a budget that grows with the
  length (no edit in 2 letters, one in 3 to 6, two in 7 to 11, three beyond);
- ``PHONETIC_SCORE`` when their metaphone keys agree (3 sounds or more);
- ``SKELETON_SCORE`` times the similarity of their consonants, when one side (not both) was
  written in Arabic or Hebrew script, which leave most vowels out, or in Hangul, whose
  romanisations disagree on vowels;
- ``INITIAL_SCORE`` when one is the initial of the other.

Pairs below ``MIN_PAIR_SCORE`` are not pairs. Everything is computed for the whole batch of
candidates with numpy and rapidfuzz's C++ edit distances, which is what makes a search over
a million names affordable in Python.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from enum import IntEnum
from functools import lru_cache

import numpy as np
import numpy.typing as npt
from rapidfuzz.distance import OSA
from rapidfuzz.process import cdist

from polex.matching.names import MAX_TOKENS_PER_NAME, NameToken, PreparedName, TokenKind, join_skeletons

MAX_SPAN = 3
EDIT_PENALTY = 1.5
VARIANT_SCORE = 0.9
DOUBLED_SCORE = 0.92
PHONETIC_SCORE = 0.8
SKELETON_SCORE = 0.85
INITIAL_SCORE = 0.8
MIN_PAIR_SCORE = 0.5
MISSING_QUERY_PART = 0.8
EXTRA_CANDIDATE_PART = 0.3

FloatArray = npt.NDArray[np.float32]
IntArray = npt.NDArray[np.int64]
BoolArray = npt.NDArray[np.bool_]


class PairReason(IntEnum):
    """Why two parts were paired: the rule that gave the pair its score."""

    NONE = 0
    SAME = 1
    EDITS = 2
    VARIANT = 3
    PHONETIC = 4
    SKELETON = 5
    INITIAL = 6
    JOINED = 7
    DOUBLED = 8


@dataclass(frozen=True)
class SpanLayout:
    """The runs of 1 to ``MAX_SPAN`` adjacent parts of a name of ``length`` parts."""

    starts: tuple[int, ...]
    lengths: tuple[int, ...]
    cover: BoolArray  # [spans, parts]: which parts each run covers
    conflict: BoolArray  # [spans, spans]: runs that share a part


@lru_cache(maxsize=MAX_TOKENS_PER_NAME + 1)
def span_layout(length: int) -> SpanLayout:
    starts: list[int] = []
    lengths: list[int] = []
    for size in range(1, MAX_SPAN + 1):
        for start in range(length - size + 1):
            starts.append(start)
            lengths.append(size)
    cover = np.zeros((len(starts), length), dtype=np.bool_)
    for index, (start, size) in enumerate(zip(starts, lengths, strict=True)):
        cover[index, start : start + size] = True
    conflict = (cover.astype(np.int32) @ cover.T.astype(np.int32)) > 0
    return SpanLayout(tuple(starts), tuple(lengths), cover, conflict)


def _edit_scores(query: list[str], candidates: list[str]) -> FloatArray:
    """``1 - EDIT_PENALTY * d / n`` within the edit budget, else 0; [len(query), len(candidates)].

    The budget is 0 edits for 2 letters or fewer, 1 for 3 to 6, 2 for 7 to 11, 3 beyond.
    """
    if not query or not candidates:
        return np.zeros((len(query), len(candidates)), dtype=np.float32)
    distances = cdist(query, candidates, scorer=OSA.distance, dtype=np.int32, workers=1)
    longest = np.maximum.outer(
        np.array(list(map(len, query)), dtype=np.int32), np.array(list(map(len, candidates)), dtype=np.int32)
    )
    budget = (longest >= 3).astype(np.int32) + (longest >= 7) + (longest >= 12)
    scores = 1.0 - EDIT_PENALTY * distances / np.maximum(longest, 1)
    return np.where(distances <= budget, scores, 0.0).astype(np.float32)


@dataclass(frozen=True)
class QueryName:
    """A query name's runs of parts, computed once per search and reused for every batch."""

    name: PreparedName
    layout: SpanLayout
    texts: list[str]  # compare form of each run
    skeletons: list[str]
    run_by_consonants: BoolArray  # [spans]: a run holds a token written in Arabic, Hebrew or Hangul
    logograms: list[str]  # [spans]: the Han characters of runs written only in Han, else ""
    weights: FloatArray  # [spans]
    token_weights: FloatArray  # [parts]
    table: TokenTable

    @classmethod
    def build(cls, name: PreparedName) -> QueryName:
        tokens = name.tokens
        layout = span_layout(len(tokens))
        texts: list[str] = []
        skeletons: list[str] = []
        flags: list[bool] = []
        logograms: list[str] = []
        for start, size in zip(layout.starts, layout.lengths, strict=True):
            run = tokens[start : start + size]
            texts.append("".join(token.compare for token in run))
            logograms.append("".join(token.logogram for token in run) if all(t.logogram for t in run) else "")
            skeletons.append(join_skeletons([token.skeleton for token in run]))
            flags.append(any(token.by_consonants for token in run))
        token_weights = np.array([token.weight for token in tokens], dtype=np.float32)
        return cls(
            name=name,
            layout=layout,
            texts=texts,
            skeletons=skeletons,
            run_by_consonants=np.array(flags, dtype=np.bool_),
            logograms=logograms,
            weights=(layout.cover.astype(np.float32) @ token_weights).astype(np.float32),
            token_weights=token_weights,
            table=TokenTable.of(tokens),
        )


@dataclass
class TokenTable:
    """Columns of a list of tokens, as the pair rules read them."""

    tokens: Sequence[NameToken]
    compare: list[str]
    collapsed: npt.NDArray[np.int64]  # hashes
    phonetic: npt.NDArray[np.int64]  # hashes, 0 where there is none
    logogram: BoolArray
    consonants: BoolArray
    initial: BoolArray
    first: npt.NDArray[np.int64]
    skeletons: list[str]

    def variant_columns(self, symbols: frozenset[int]) -> list[int]:
        """The columns of the tokens that share at least one of ``symbols``."""
        return [
            column
            for column, token in enumerate(self.tokens)
            if token.symbols and not symbols.isdisjoint(token.symbols)
        ]

    @classmethod
    def of(cls, tokens: Sequence[NameToken], features: npt.NDArray[np.int64] | None = None) -> TokenTable:
        """The table of ``tokens``; ``features`` are their ``token_features`` rows when the
        caller keeps them (an index does), else they are computed here."""
        if features is None:
            features = np.array([token_features(token) for token in tokens], dtype=np.int64).reshape(-1, 6)
        return cls(
            tokens=tokens,
            skeletons=[token.skeleton for token in tokens],
            compare=[token.compare for token in tokens],
            collapsed=features[:, 0],
            phonetic=features[:, 1],
            logogram=features[:, 2].astype(np.bool_),
            consonants=features[:, 3].astype(np.bool_),
            initial=features[:, 4].astype(np.bool_),
            first=features[:, 5],
        )


def token_features(token: NameToken) -> tuple[int, int, int, int, int, int]:
    """The numbers the pair rules read of a token: hashes of its collapsed form and phonetic
    key (0 for none), whether it is Han, written in a consonant script, an initial, and the
    code of its first Latin letter. Hashes hold for the life of the process."""
    return (
        hash(token.collapsed),
        hash(token.phonetic) if token.phonetic else 0,
        int(bool(token.logogram)),
        int(token.by_consonants),
        int(token.kind == TokenKind.INITIAL),
        ord(token.latin[0]),
    )


def _single_rules(query: TokenTable, candidates: TokenTable, edits: FloatArray) -> tuple[FloatArray, IntArray]:
    """Scores and reasons (``PairReason``) of query tokens against candidate tokens, given the
    edit scores of their Latin forms; skeletons are added by the caller."""
    shape = edits.shape
    rules = np.zeros((len(PairReason), *shape), dtype=np.float32)
    # Two Han tokens were compared by their characters (``_by_character``): their shared
    # readings must not pair them through doubled letters, sounds or variant groups either
    # (Wikidata's "Xu" group holds both 徐 and 許).
    both_logograms = query.logogram[:, None] & candidates.logogram[None, :]
    same = edits >= 1.0
    rules[PairReason.SAME] = same
    rules[PairReason.EDITS] = np.where(same, 0.0, edits)
    doubled = (query.collapsed[:, None] == candidates.collapsed[None, :]) & ~same & ~both_logograms
    rules[PairReason.DOUBLED] = doubled * DOUBLED_SCORE
    for row, token in enumerate(query.tokens):
        if token.symbols:
            rules[PairReason.VARIANT, row, candidates.variant_columns(token.symbols)] = VARIANT_SCORE
    rules[PairReason.VARIANT][both_logograms] = 0.0
    same_sound = (query.phonetic[:, None] == candidates.phonetic[None, :]) & (query.phonetic != 0)[:, None]
    rules[PairReason.PHONETIC] = (same_sound & ~both_logograms) * PHONETIC_SCORE
    either_initial = query.initial[:, None] | candidates.initial[None, :]
    if either_initial.any():
        same_first = query.first[:, None] == candidates.first[None, :]
        rules[PairReason.INITIAL] = (same_first & either_initial) * INITIAL_SCORE
    return rules.max(axis=0), rules.argmax(axis=0)


def _by_character(edits: FloatArray, query: list[str], candidates: list[str]) -> None:
    """Where both sides are written in Han, replace the edit scores of their readings by those
    of their characters: many names share a reading (``徐`` and ``許`` are both ``xu``)."""
    rows = [row for row, text in enumerate(query) if text]
    if not rows:
        return
    columns = [column for column, text in enumerate(candidates) if text]
    if columns:
        block = _edit_scores([query[row] for row in rows], [candidates[column] for column in columns])
        edits[np.ix_(rows, columns)] = block


def _skeletons_across(
    query: list[str], candidates: list[str] | Callable[[list[int]], list[str]], across: BoolArray
) -> FloatArray:
    """``SKELETON_SCORE`` times the edit score of the skeletons, where ``across`` holds (and
    both skeletons have two letters or more); computed for those columns only."""
    scores = np.zeros(across.shape, dtype=np.float32)
    columns = np.flatnonzero(across.any(axis=0))
    rows = np.flatnonzero(across.any(axis=1))
    if not len(columns) or not len(rows):
        return scores
    row_texts = [query[row] for row in rows.tolist()]
    if callable(candidates):
        column_texts = candidates(columns.tolist())
    else:
        column_texts = [candidates[column] for column in columns.tolist()]
    block = _edit_scores(row_texts, column_texts) * SKELETON_SCORE
    q_short = np.array([len(text) < 2 for text in row_texts], dtype=np.bool_)
    c_short = np.array([len(text) < 2 for text in column_texts], dtype=np.bool_)
    block[q_short[:, None] | c_short[None, :]] = 0.0
    scores[np.ix_(rows, columns)] = block
    return np.where(across, scores, 0.0).astype(np.float32)


@dataclass(frozen=True)
class Pair:
    """Query parts ``query[qs:qe]`` paired with candidate parts ``candidate[cs:ce]``."""

    query_start: int
    query_end: int
    candidate_start: int
    candidate_end: int
    score: float
    reason: PairReason


class BatchAlignment:
    """Name scores of a batch, and what is needed to say which parts paired with which."""

    def __init__(
        self,
        scores: npt.NDArray[np.float64],
        picks: list[tuple[IntArray, IntArray, FloatArray, BoolArray]],
        query: QueryName | None = None,
        batch: CandidateBatch | None = None,
        reasons: IntArray | None = None,
    ) -> None:
        self.scores = scores  # [candidates]
        self._picks = picks  # per greedy step: query span, candidate span, score, whether taken
        self._query, self._batch, self._reasons = query, batch, reasons

    def pairs(self, row: int) -> list[Pair]:
        """The parts paired for candidate ``row``, in the order they were taken."""
        if self._query is None or self._batch is None or self._reasons is None:
            return []
        q_layout, layout = self._query.layout, self._batch.layout
        found: list[Pair] = []
        for q_span, c_span, best, active in self._picks:
            if not active[row]:
                continue
            qs, cs = int(q_span[row]), int(c_span[row])
            found.append(
                Pair(
                    query_start=q_layout.starts[qs],
                    query_end=q_layout.starts[qs] + q_layout.lengths[qs],
                    candidate_start=layout.starts[cs],
                    candidate_end=layout.starts[cs] + layout.lengths[cs],
                    score=float(best[row]),
                    reason=PairReason(int(self._reasons[qs, self._batch.resolved[row, cs]])),
                )
            )
        return found


class CandidateBatch:
    """Candidate names laid out once for any number of query names.

    Columns are the batch's tokens, then its runs of two or three adjacent tokens, then one
    column of zeros for the runs that would reach past the end of a shorter name.
    ``resolved[row, span]`` is the column of the candidate's span (``span_layout``), and
    ``run_members[run]`` are the token columns a run is made of (-1 pads a pair).
    Built from token sequences (``of_names``) or from an index's arrays (``from_arrays``);
    either way the scores are the same.
    """

    def __init__(
        self,
        tokens: TokenTable,
        run_texts: list[str],
        run_members: IntArray,
        resolved: IntArray,
        token_weights: FloatArray,
    ) -> None:
        self.count, self.longest = token_weights.shape
        self.layout = span_layout(self.longest)
        self.tokens = tokens
        self.run_texts = run_texts
        self.texts = tokens.compare + run_texts
        self.run_members = run_members
        self.width = len(self.texts) + 1
        self.resolved = resolved
        self.token_weights = token_weights
        self.span_weights = token_weights @ self.layout.cover.T.astype(np.float32)  # [count, spans]
        self._run_flags: BoolArray | None = None
        self._run_skeletons: dict[int, str] = {}

    @classmethod
    def of_names(cls, candidates: Sequence[Sequence[NameToken]]) -> CandidateBatch:
        count = len(candidates)
        longest = max((len(tokens) for tokens in candidates), default=1)
        spans = len(span_layout(longest).starts)
        pair_offset, triple_offset = longest, longest + max(longest - 1, 0)
        token_columns: dict[int, int] = {}
        unique_tokens: list[NameToken] = []
        run_columns: dict[str, int] = {}
        members: list[tuple[int, int, int]] = []
        columns: list[int] = []
        weights: list[float] = []
        blank_columns = [-1] * spans
        blank_weights = [0.0] * longest
        for tokens in candidates:
            row_columns = blank_columns.copy()
            row_weights = blank_weights.copy()
            for position, token in enumerate(tokens):
                column = token_columns.get(id(token))
                if column is None:
                    column = token_columns[id(token)] = len(unique_tokens)
                    unique_tokens.append(token)
                row_columns[position] = column
                row_weights[position] = token.weight
            length = len(tokens)
            if length > 1:
                compares = [token.compare for token in tokens]
                for size, offset in ((2, pair_offset), (3, triple_offset)):
                    for start in range(length - size + 1):
                        text = "".join(compares[start : start + size])
                        column = run_columns.get(text)
                        if column is None:
                            column = run_columns[text] = len(members)
                            members.append(
                                (
                                    row_columns[start],
                                    row_columns[start + 1],
                                    row_columns[start + 2] if size == 3 else -1,
                                )
                            )
                        row_columns[offset + start] = -2 - column
            columns.extend(row_columns)
            weights.extend(row_weights)
        n_tokens, n_runs = len(unique_tokens), len(members)
        column_of = np.array(columns, dtype=np.int64).reshape(count, spans)
        resolved = np.where(column_of <= -2, n_tokens - 2 - column_of, column_of)
        resolved[column_of == -1] = n_tokens + n_runs
        return cls(
            TokenTable.of(unique_tokens),
            list(run_columns),
            np.array(members, dtype=np.int64).reshape(n_runs, 3),
            resolved,
            np.array(weights, dtype=np.float32).reshape(count, longest),
        )

    @classmethod
    def from_arrays(
        cls,
        rows: IntArray,
        token_ids: npt.NDArray[np.int32],
        token_starts: IntArray,
        vocabulary: Sequence[NameToken],
        features: npt.NDArray[np.int64],
        weights: FloatArray,
        run_texts: Sequence[str],
        run_starts: IntArray,
    ) -> CandidateBatch:
        """A batch of indexed names: ``rows`` index ``token_starts`` (the tokens of name ``r``
        are ``token_ids[token_starts[r]:token_starts[r + 1]]``, ids into ``vocabulary``) and
        ``run_starts`` (its runs, pairs then triples, in ``run_texts``). ``features`` holds the
        ``token_features`` of every vocabulary token."""
        count = len(rows)
        starts = token_starts[rows]
        lengths = token_starts[rows + 1] - starts
        longest = max(int(lengths.max()), 1)
        positions = np.arange(longest)
        valid = positions[None, :] < lengths[:, None]
        ids = np.where(valid, token_ids[np.minimum(starts[:, None] + positions[None, :], len(token_ids) - 1)], -1)
        unique_ids, inverse = np.unique(ids[valid], return_inverse=True)
        n_tokens = len(unique_ids)
        token_columns = np.full((count, longest), -1, dtype=np.int64)
        token_columns[valid] = inverse
        # Runs: for a name of n tokens, run k < n - 1 is the pair starting at k, later ones
        # the triples starting at k - (n - 1).
        first_run = run_starts[rows]
        run_counts = run_starts[rows + 1] - first_run
        texts: list[str] = []
        for begin, end in zip(first_run.tolist(), (first_run + run_counts).tolist(), strict=True):
            texts.extend(run_texts[begin:end])
        run_row = np.repeat(np.arange(count), run_counts)
        k = np.arange(len(texts)) - np.repeat(np.cumsum(run_counts) - run_counts, run_counts)
        length = lengths[run_row]
        is_pair = k < length - 1
        run_start = np.where(is_pair, k, k - (length - 1))
        span = np.where(is_pair, longest + run_start, 2 * longest - 1 + run_start)
        members = np.full((len(texts), 3), -1, dtype=np.int64)
        members[:, 0] = token_columns[run_row, run_start]
        members[:, 1] = token_columns[run_row, run_start + 1]
        members[~is_pair, 2] = token_columns[run_row[~is_pair], run_start[~is_pair] + 2]
        sentinel = n_tokens + len(texts)
        spans = len(span_layout(longest).starts)
        resolved = np.full((count, spans), sentinel, dtype=np.int64)
        resolved[:, :longest] = np.where(valid, token_columns, sentinel)
        resolved[run_row, span] = n_tokens + np.arange(len(texts))
        token_weights = np.where(valid, weights[np.maximum(ids, 0)], 0.0).astype(np.float32)
        table = TokenTable.of([vocabulary[token_id] for token_id in unique_ids.tolist()], features[unique_ids])
        return cls(table, texts, members, resolved, token_weights)

    @property
    def run_flags(self) -> BoolArray:
        """Per run: holds a token written in Arabic, Hebrew or Hangul."""
        if self._run_flags is None:
            flags = np.append(self.tokens.consonants, False)  # -1 (no third member) reads False
            self._run_flags = np.asarray(flags[self.run_members].any(axis=1), dtype=np.bool_)
        return self._run_flags

    def skeletons_of(self, columns: list[int]) -> list[str]:
        """Skeletons of some token or run columns; runs' are built on first use, since most
        searches need few or none."""
        n_tokens = len(self.tokens.tokens)
        skeletons = self.tokens.skeletons
        texts: list[str] = []
        for column in columns:
            if column < n_tokens:
                texts.append(skeletons[column])
                continue
            found = self._run_skeletons.get(column)
            if found is None:
                members = [int(member) for member in self.run_members[column - n_tokens] if member >= 0]
                found = self._run_skeletons[column] = join_skeletons([skeletons[member] for member in members])
            texts.append(found)
        return texts

    @property
    def logograms(self) -> list[str]:
        """Per token and run column: its Han characters when it is written only in Han, else ""."""
        texts = [token.logogram for token in self.tokens.tokens]
        for members in self.run_members.tolist():
            parts = [texts[member] for member in members if member >= 0]
            texts.append("".join(parts) if all(parts) else "")
        return texts

    @property
    def consonants(self) -> BoolArray:
        """Per token and run column: written (at least partly) in Arabic, Hebrew or Hangul."""
        return np.concatenate([self.tokens.consonants, self.run_flags])


def align(query: QueryName, candidates: Sequence[Sequence[NameToken]]) -> BatchAlignment:
    """Score one query name against a batch of candidate names (token sequences)."""
    if not candidates:
        return BatchAlignment(np.zeros(0), [])
    return align_batch(query, CandidateBatch.of_names(candidates))


def align_batch(query: QueryName, batch: CandidateBatch) -> BatchAlignment:
    """Score one query name against a prepared batch of candidate names."""
    n_tokens = len(batch.tokens.tokens)
    singles = len(query.name.tokens)
    # Every query run against every candidate token and run, by their letters; then the
    # single-token rules (variants, sounds, initials ...) on the single-token block, and
    # consonant skeletons across Arabic, Hebrew or Hangul and other scripts.
    matrix = np.zeros((len(query.texts), batch.width), dtype=np.float32)
    matrix[:, :-1] = _edit_scores(query.texts, batch.texts)
    if any(query.logograms) and batch.tokens.logogram.any():
        _by_character(matrix[:, :-1], query.logograms, batch.logograms)
    reasons = np.where(matrix > 0, PairReason.JOINED, PairReason.NONE).astype(np.int64)
    block_scores, block_reasons = _single_rules(query.table, batch.tokens, matrix[:singles, :n_tokens])
    matrix[:singles, :n_tokens] = block_scores
    reasons[:singles, :n_tokens] = block_reasons
    across = query.run_by_consonants[:, None] ^ batch.consonants[None, :]
    if across.any():
        skeleton = _skeletons_across(query.skeletons, batch.skeletons_of, across)
        better = skeleton > matrix[:, :-1]
        reasons[:, :-1][better] = PairReason.SKELETON
        np.maximum(matrix[:, :-1], skeleton, out=matrix[:, :-1])
    scores = np.ascontiguousarray(matrix[:, batch.resolved].transpose(1, 0, 2))  # [count, q_spans, spans]
    scores[scores < MIN_PAIR_SCORE] = 0.0
    return _greedy(query, batch, scores, reasons)


def _greedy(query: QueryName, batch: CandidateBatch, scores: FloatArray, reasons: IntArray) -> BatchAlignment:
    layout, token_weights, span_weights = batch.layout, batch.token_weights, batch.span_weights
    count, q_spans, spans = scores.shape
    rows = np.arange(count)
    flat = scores.reshape(count, q_spans * spans)
    numerator = np.zeros(count, dtype=np.float64)
    matched_weight = np.zeros(count, dtype=np.float64)
    q_covered = np.zeros((count, len(query.token_weights)), dtype=np.bool_)
    c_covered = np.zeros((count, token_weights.shape[1]), dtype=np.bool_)
    q_layout = query.layout
    picks: list[tuple[IntArray, IntArray, FloatArray, BoolArray]] = []
    for _ in range(min(len(query.token_weights), token_weights.shape[1])):
        best_index = flat.argmax(axis=1)
        best = flat[rows, best_index]
        active = best > 0.0
        if not active.any():
            break
        q_span = best_index // spans
        c_span = best_index % spans
        weight = np.maximum(query.weights[q_span], span_weights[rows, c_span])
        numerator += np.where(active, best * weight, 0.0)
        matched_weight += np.where(active, weight, 0.0)
        q_covered |= q_layout.cover[q_span] & active[:, None]
        c_covered |= layout.cover[c_span] & active[:, None]
        scores[q_layout.conflict[q_span]] = 0.0
        np.swapaxes(scores, 1, 2)[layout.conflict[c_span]] = 0.0
        picks.append((q_span, c_span, best, active))
    missing = ((~q_covered) * query.token_weights[None, :]).sum(axis=1)
    extra = ((~c_covered) * token_weights).sum(axis=1)
    denominator = matched_weight + MISSING_QUERY_PART * missing + EXTRA_CANDIDATE_PART * extra
    result = np.divide(numerator, denominator, out=np.zeros(count), where=denominator > 0)
    # Six decimals: the pair scores are 32-bit floats, and 0.8999999761 should read 0.9.
    return BatchAlignment(np.round(np.minimum(result, 1.0), 6), picks, query, batch, reasons)
