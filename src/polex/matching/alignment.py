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
a million names affordable in Python. A batch is small (about fifty names), so what a search
pays is mostly the fixed cost of each numpy call: the code keeps their number down (work a
rule cannot change is skipped, the rule that gave a pair its score is only worked out for
the candidates a search explains) rather than the size of the arrays.
"""

from __future__ import annotations

from bisect import bisect_right
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from enum import IntEnum
from functools import lru_cache
from operator import itemgetter
from typing import Any, Generic, TypeVar, overload

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

# Edits allowed by the length of the longer text: none up to 2 letters, one up to 6, two up
# to 11, three beyond.
_EDIT_BUDGET = np.array([0, 0, 0, 1, 1, 1, 1, 2, 2, 2, 2, 2, 3], dtype=np.int32)
_MAX_EDITS = 3

_T = TypeVar("_T")
_O = TypeVar("_O")
FloatArray = npt.NDArray[np.float32]
IntArray = npt.NDArray[np.int64]
BoolArray = npt.NDArray[np.bool_]


class _lazy(Generic[_O, _T]):  # noqa: N801 - used as a decorator, like functools.cached_property
    """``functools.cached_property`` without its lock, which Python 3.11 takes on every first
    access: batches and query names live within one search, on one thread."""

    def __init__(self, function: Callable[[_O], _T]) -> None:
        self.function = function
        self.name = function.__name__
        self.__doc__ = function.__doc__

    def __set_name__(self, owner: type, name: str) -> None:
        self.name = name

    @overload
    def __get__(self, instance: None, owner: type | None = None) -> _lazy[_O, _T]: ...

    @overload
    def __get__(self, instance: _O, owner: type | None = None) -> _T: ...

    def __get__(self, instance: Any, owner: type | None = None) -> Any:
        if instance is None:
            return self
        value = instance.__dict__[self.name] = self.function(instance)
        return value


# The rule scores as the 32-bit score matrices hold them.
_VARIANT = np.float32(VARIANT_SCORE)
_DOUBLED = np.float32(DOUBLED_SCORE)
_PHONETIC = np.float32(PHONETIC_SCORE)
_INITIAL = np.float32(INITIAL_SCORE)


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
    keep: FloatArray  # [spans, spans]: 0 where two runs share a part, else 1
    cover32: FloatArray  # cover as 32-bit floats, for weights


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
    return SpanLayout(
        tuple(starts), tuple(lengths), cover, conflict, (~conflict).astype(np.float32), cover.astype(np.float32)
    )


@lru_cache(maxsize=MAX_TOKENS_PER_NAME + 1)
def _span_sources(longest: int) -> tuple[IntArray, IntArray]:
    """Where the spans of ``span_layout(longest)`` come from in a name of ``n`` parts, for
    every ``n`` up to ``longest``: ``kind[n, span]`` is 0 for a part (number ``offset``), 1
    for a run of the name (its pairs, then its triples: run number ``offset``), 2 for none."""
    layout = span_layout(longest)
    kind = np.full((longest + 1, len(layout.starts)), 2, dtype=np.int64)
    offset = np.zeros_like(kind)
    for n in range(1, longest + 1):
        for span, (start, size) in enumerate(zip(layout.starts, layout.lengths, strict=True)):
            if start + size > n:
                continue
            kind[n, span] = 0 if size == 1 else 1
            offset[n, span] = start if size < 3 else n - 1 + start
    return kind, offset


def _lengths(texts: Sequence[str]) -> npt.NDArray[np.int32]:
    return np.fromiter(map(len, texts), dtype=np.int32, count=len(texts))


def _pick(items: Sequence[_T], positions: list[int]) -> list[_T]:
    """``[items[i] for i in positions]``, in one C call."""
    if len(positions) > 1:
        return list(itemgetter(*positions)(items))
    return [items[i] for i in positions]


def _edit_scores(
    query: Sequence[str],
    candidates: Sequence[str],
    query_lengths: npt.NDArray[np.int32] | None = None,
    candidate_lengths: npt.NDArray[np.int32] | None = None,
) -> FloatArray:
    """``1 - EDIT_PENALTY * d / n`` within the edit budget, else 0; [len(query), len(candidates)].

    The budget is 0 edits for 2 letters or fewer, 1 for 3 to 6, 2 for 7 to 11, 3 beyond.
    """
    scores = np.zeros((len(query), len(candidates)), dtype=np.float32)
    if len(query) and len(candidates):
        _write_edit_scores(scores, query, candidates, query_lengths, candidate_lengths)
    return scores


def _write_edit_scores(
    out: FloatArray,
    query: Sequence[str],
    candidates: Sequence[str],
    query_lengths: npt.NDArray[np.int32] | None = None,
    candidate_lengths: npt.NDArray[np.int32] | None = None,
    bound: int | None = None,
) -> None:
    """``_edit_scores`` written into ``out``; ``bound``, when given, is at least every length."""
    # Distances past the largest budget are not computed (rapidfuzz returns the cutoff plus one).
    distances = cdist(query, candidates, scorer=OSA.distance, dtype=np.int32, workers=1, score_cutoff=_MAX_EDITS)
    longest = np.maximum.outer(
        _lengths(query) if query_lengths is None else query_lengths,
        _lengths(candidates) if candidate_lengths is None else candidate_lengths,
    )
    if bound is None:
        bound = int(longest.max())
    if bound < _SCORE_TABLE.shape[1]:
        out[...] = _SCORE_TABLE[distances, longest]
        return
    scores = 1.0 - EDIT_PENALTY * distances / np.maximum(longest, 1)
    out[...] = np.where(distances <= _EDIT_BUDGET[np.minimum(longest, 12)], scores, 0.0)


def _score_table(lengths: int) -> FloatArray:
    """The edit score of every distance rapidfuzz returns (0 to ``_MAX_EDITS`` + 1) and length."""
    distances = np.arange(_MAX_EDITS + 2, dtype=np.int32)[:, None]
    longest = np.arange(lengths, dtype=np.int32)[None, :]
    scores = 1.0 - EDIT_PENALTY * distances / np.maximum(longest, 1)
    return np.where(distances <= _EDIT_BUDGET[np.minimum(longest, 12)], scores, 0.0).astype(np.float32)


_SCORE_TABLE = _score_table(128)


@lru_cache(maxsize=1 << 16)
def token_features(token: NameToken) -> tuple[int, int, int, int, int, int]:
    """The numbers the pair rules read of a token: hashes of its collapsed form and phonetic
    key (0 for none), whether it is Han, written in a consonant script, an initial, and the
    code of its first Latin letter. Hashes hold for the life of the process. Cached (tokens
    are themselves cached, and compared by identity)."""
    return (
        hash(token.collapsed),
        hash(token.phonetic) if token.phonetic else 0,
        int(bool(token.logogram)),
        int(token.by_consonants),
        int(token.kind == TokenKind.INITIAL),
        ord(token.latin[0]),
    )


@dataclass(frozen=True)
class Vocabulary:
    """An index's tokens as batches read them: token ids index every field."""

    tokens: Sequence[NameToken]
    features: npt.NDArray[np.int64]  # token_features of each token
    weights: FloatArray
    compares: Sequence[str]
    skeletons: Sequence[str]
    variants: Mapping[int, Sequence[int]]  # variant symbol -> ids of the tokens holding it


class TokenTable:
    """Columns of a list of tokens, as the pair rules read them.

    ``features`` are the tokens' ``token_features`` rows when the caller keeps them (an index
    does), else they are computed here. A table of an index's tokens (``of_vocabulary``)
    reads its columns from the index's lists and looks tokens up only when a rule needs them.
    """

    def __init__(self, tokens: Sequence[NameToken], features: npt.NDArray[np.int64] | None = None) -> None:
        if features is None:
            features = np.array([token_features(token) for token in tokens], dtype=np.int64).reshape(-1, 6)
        self._tokens: Sequence[NameToken] | None = tokens
        self._vocabulary: Vocabulary | None = None
        self._ids: IntArray | None = None
        self.features = features
        self.collapsed = features[:, 0]
        self.phonetic = features[:, 1]
        self.first = features[:, 5]

    @classmethod
    def of(cls, tokens: Sequence[NameToken], features: npt.NDArray[np.int64] | None = None) -> TokenTable:
        return cls(tokens, features)

    @classmethod
    def of_vocabulary(cls, vocabulary: Vocabulary, ids: IntArray) -> TokenTable:
        """The tokens ``ids`` (ascending) of ``vocabulary``."""
        table = cls((), vocabulary.features[ids])
        table._tokens, table._vocabulary, table._ids = None, vocabulary, ids
        return table

    def __len__(self) -> int:
        return len(self.features)

    def _column(self, values: Sequence[_T]) -> list[_T]:
        assert self._ids is not None
        return _pick(values, self._ids.tolist())

    @_lazy
    def tokens(self) -> Sequence[NameToken]:
        if self._tokens is not None:
            return self._tokens
        assert self._vocabulary is not None
        return self._column(self._vocabulary.tokens)

    @_lazy
    def compare(self) -> list[str]:
        if self._vocabulary is not None:
            return self._column(self._vocabulary.compares)
        return [token.compare for token in self.tokens]

    @_lazy
    def skeletons(self) -> list[str]:
        if self._vocabulary is not None:
            return self._column(self._vocabulary.skeletons)
        return [token.skeleton for token in self.tokens]

    @_lazy
    def logogram(self) -> BoolArray:
        return self.features[:, 2].astype(np.bool_)

    @_lazy
    def consonants(self) -> BoolArray:
        return self.features[:, 3].astype(np.bool_)

    @_lazy
    def initial(self) -> BoolArray:
        return self.features[:, 4].astype(np.bool_)

    @_lazy
    def any_logogram(self) -> bool:
        return bool(np.count_nonzero(self.features[:, 2]))

    @_lazy
    def any_consonants(self) -> bool:
        return bool(np.count_nonzero(self.features[:, 3]))

    @_lazy
    def any_initial(self) -> bool:
        return bool(np.count_nonzero(self.features[:, 4]))

    @_lazy
    def sound(self) -> npt.NDArray[np.int64]:
        """Phonetic hashes, with -1 (which no string hashes to) for none: as the query side of
        a comparison, a token without a key then sounds like no other."""
        return np.where(self.phonetic == 0, -1, self.phonetic)

    @_lazy
    def _columns_of_ids(self) -> dict[int, int]:
        assert self._ids is not None
        return dict(zip(self._ids.tolist(), range(len(self._ids)), strict=True))

    def variant_columns(self, symbols: frozenset[int]) -> list[int]:
        """The columns of the tokens that share at least one of ``symbols``."""
        if self._vocabulary is not None:
            # The few tokens of the groups, looked up among the table's.
            variants, columns_of_ids = self._vocabulary.variants, self._columns_of_ids
            found = {
                columns_of_ids[token_id]
                for symbol in symbols
                for token_id in variants.get(symbol, ())
                if token_id in columns_of_ids
            }
            return sorted(found)
        return [
            column
            for column, token in enumerate(self.tokens)
            if token.symbols and not symbols.isdisjoint(token.symbols)
        ]


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
    text_lengths: npt.NDArray[np.int32]
    skeleton_lengths: npt.NDArray[np.int32]

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
            weights=(layout.cover32 @ token_weights).astype(np.float32),
            token_weights=token_weights,
            table=TokenTable(tokens),
            text_lengths=_lengths(texts),
            skeleton_lengths=_lengths(skeletons),
        )

    @_lazy
    def longest(self) -> int:
        """The length of the longest run."""
        return int(self.text_lengths.max())

    @_lazy
    def has_logograms(self) -> bool:
        return any(self.logograms)

    @_lazy
    def consonant_rows(self) -> tuple[IntArray, IntArray]:
        """Runs (with a skeleton of two letters or more) holding no token written in Arabic,
        Hebrew or Hangul, and those holding one."""
        long_enough = self.skeleton_lengths >= 2
        return (
            np.flatnonzero(long_enough & ~self.run_by_consonants),
            np.flatnonzero(long_enough & self.run_by_consonants),
        )


def _single_scores(query: TokenTable, candidates: TokenTable, block: FloatArray) -> None:
    """Raise ``block``, the edit scores of query tokens against candidate tokens, to the best
    single-token rule (``_single_rules`` gives the same scores, and the rules that gave them)."""
    exclude: BoolArray | None = None
    if query.any_logogram and candidates.any_logogram:
        exclude = query.logogram[:, None] & candidates.logogram[None, :]
    rule = np.equal.outer(query.collapsed, candidates.collapsed)
    if exclude is not None:
        rule &= ~exclude
    np.maximum(block, rule * _DOUBLED, out=block)
    for row, token in enumerate(query.tokens):
        if token.symbols:
            columns = candidates.variant_columns(token.symbols)
            if exclude is not None:
                columns = [column for column in columns if not exclude[row, column]]
            if columns:
                block[row, columns] = np.maximum(block[row, columns], _VARIANT)
    rule = np.equal.outer(query.sound, candidates.phonetic)
    if exclude is not None:
        rule &= ~exclude
    np.maximum(block, rule * _PHONETIC, out=block)
    if query.any_initial or candidates.any_initial:
        rule = np.equal.outer(query.first, candidates.first) & (query.initial[:, None] | candidates.initial[None, :])
        np.maximum(block, rule * _INITIAL, out=block)


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


# A block of skeleton scores: query rows, candidate columns, their scores.
SkeletonBlock = tuple[IntArray, IntArray, FloatArray]


def _skeletons_across(query: QueryName, batch: CandidateBatch) -> list[SkeletonBlock]:
    """``SKELETON_SCORE`` times the edit score of the skeletons of query runs and candidate
    columns where one side (not both) holds a token written in Arabic, Hebrew or Hangul,
    and both skeletons have two letters or more."""
    blocks: list[SkeletonBlock] = []
    plain_columns, consonant_columns = batch.consonant_columns
    for rows, columns in zip(query.consonant_rows, (consonant_columns, plain_columns), strict=True):
        if not len(rows) or not len(columns):
            continue
        column_texts = batch.skeletons_of(columns.tolist())
        column_lengths = _lengths(column_texts)
        long_enough = column_lengths >= 2
        if not long_enough.all():
            columns, column_lengths = columns[long_enough], column_lengths[long_enough]
            column_texts = [text for text, keep in zip(column_texts, long_enough.tolist(), strict=True) if keep]
            if not len(columns):
                continue
        row_texts = [query.skeletons[row] for row in rows.tolist()]
        block = _edit_scores(row_texts, column_texts, query.skeleton_lengths[rows], column_lengths) * SKELETON_SCORE
        blocks.append((rows, columns, block))
    return blocks


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
    """Name scores of a batch, and what is needed to say which parts paired with which.

    ``reasons`` gives the ``PairReason`` of a query run and a batch column: an array
    [query runs, batch columns], or a function of the two, asked only for the pairs
    explained (most candidates of a search never are).
    """

    def __init__(
        self,
        scores: npt.NDArray[np.float64],
        picks: list[tuple[IntArray, IntArray, FloatArray, BoolArray]],
        query: QueryName | None = None,
        batch: CandidateBatch | None = None,
        reasons: IntArray | Callable[[int, int], PairReason] | None = None,
    ) -> None:
        self.scores = scores  # [candidates]
        self._picks = picks  # per greedy step: query span, candidate span, score, whether taken
        self._query, self._batch, self._reasons = query, batch, reasons

    def pairs(self, row: int) -> list[Pair]:
        """The parts paired for candidate ``row``, in the order they were taken."""
        if self._query is None or self._batch is None or self._reasons is None:
            return []
        reasons = self._reasons
        q_layout, layout = self._query.layout, self._batch.layout
        found: list[Pair] = []
        for q_span, c_span, best, active in self._picks:
            if not active[row]:
                continue
            qs, cs = int(q_span[row]), int(c_span[row])
            column = int(self._batch.resolved[row, cs])
            found.append(
                Pair(
                    query_start=q_layout.starts[qs],
                    query_end=q_layout.starts[qs] + q_layout.lengths[qs],
                    candidate_start=layout.starts[cs],
                    candidate_end=layout.starts[cs] + layout.lengths[cs],
                    score=float(best[row]),
                    reason=reasons(qs, column) if callable(reasons) else PairReason(int(reasons[qs, column])),
                )
            )
        return found


class CandidateBatch:
    """Candidate names laid out once for any number of query names.

    Columns are the batch's tokens, then its runs of two or three adjacent tokens, then one
    column of zeros for the runs that would reach past the end of a shorter name.
    ``resolved[row, span]`` is the column of the candidate's span (``span_layout``), and
    ``run_members[run]`` are the token columns a run is made of (-1 pads a pair; worked out
    on first use when ``members`` is a function). Built from token sequences (``of_names``)
    or from an index's arrays (``from_arrays``); either way the scores are the same.
    """

    def __init__(
        self,
        tokens: TokenTable,
        run_texts: list[str],
        members: IntArray | Callable[[], IntArray],
        resolved: IntArray,
        token_weights: FloatArray,
        run_flags: BoolArray | None = None,
        member_of: Callable[[int], tuple[int, int, int]] | None = None,
    ) -> None:
        self.count, self.longest = token_weights.shape
        self.layout = span_layout(self.longest)
        self.tokens = tokens
        self.n_tokens = len(tokens)
        self.run_texts = run_texts
        self.texts = tokens.compare + run_texts
        self.width = len(self.texts) + 1
        self.resolved = resolved
        self.token_weights = token_weights
        self.span_weights = token_weights @ self.layout.cover32.T  # [count, spans]
        self._members = members
        self._run_flags = run_flags
        self._member_of = member_of  # one run's members, cheaper than all of them for a few runs
        self._run_skeletons: dict[int, str] = {}

    @_lazy
    def run_members(self) -> IntArray:
        return self._members() if callable(self._members) else self._members

    @_lazy
    def text_lengths(self) -> npt.NDArray[np.int32]:
        return _lengths(self.texts)

    @_lazy
    def longest_text(self) -> int:
        return int(self.text_lengths.max())

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
            TokenTable(unique_tokens),
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
        vocabulary: Vocabulary,
        run_texts: Sequence[str],
        run_starts: IntArray,
        run_consonants: npt.NDArray[np.int8] | None = None,
    ) -> CandidateBatch:
        """A batch of indexed names: ``rows`` index ``token_starts`` (the tokens of name ``r``
        are ``token_ids[token_starts[r]:token_starts[r + 1]]``, ids into ``vocabulary``) and
        ``run_starts`` (its runs, pairs then triples, in ``run_texts``); ``run_consonants``,
        when given, says whether each run holds a token written in Arabic, Hebrew or Hangul."""
        count = len(rows)
        starts = token_starts[rows]
        lengths = token_starts[rows + 1] - starts
        longest = max(int(lengths.max()), 1)
        total = int(lengths.sum())
        token_base = np.cumsum(lengths) - lengths  # each row's first part among all the batch's parts
        ids = token_ids[np.repeat(starts - token_base, lengths) + np.arange(total)].astype(np.int64)
        # One column per distinct token, in id order (np.unique, without its overhead).
        order = np.argsort(ids, kind="stable")
        ordered = ids[order]
        first = np.empty(total, dtype=np.bool_)
        first[0] = True
        np.not_equal(ordered[1:], ordered[:-1], out=first[1:])
        unique_ids = ordered[first]
        n_tokens = len(unique_ids)
        first_run = run_starts[rows]
        run_counts = run_starts[rows + 1] - first_run
        n_runs = int(run_counts.sum())
        run_base = np.cumsum(run_counts) - run_counts
        run_positions = np.repeat(first_run - run_base, run_counts) + np.arange(n_runs)
        texts = _pick(run_texts, run_positions.tolist())
        # column_map: the columns of the batch's parts (in row order), of its runs, and the zero column.
        column_map = np.empty(total + n_runs + 1, dtype=np.int64)
        column_map[order] = np.cumsum(first) - 1
        column_map[total:] = np.arange(n_tokens, n_tokens + n_runs + 1)
        # Every span of every row: a part, a run or nothing (the last, zero column).
        kind, offset = _span_sources(longest)
        row_kind = kind[lengths]
        sources = np.where(row_kind == 0, token_base[:, None], (total + run_base)[:, None]) + offset[lengths]
        resolved = column_map[np.where(row_kind == 2, total + n_runs, sources)]
        valid = np.arange(longest)[None, :] < lengths[:, None]
        token_weights = np.zeros((count, longest), dtype=np.float32)
        token_weights[valid] = vocabulary.weights[ids]

        def members() -> IntArray:
            run_row = np.repeat(np.arange(count), run_counts)
            k = np.arange(n_runs) - run_base[run_row]
            length = lengths[run_row]
            is_pair = k < length - 1
            first_part = token_base[run_row] + np.where(is_pair, k, k - (length - 1))
            found = np.full((n_runs, 3), -1, dtype=np.int64)
            found[:, 0] = column_map[first_part]
            found[:, 1] = column_map[first_part + 1]
            found[~is_pair, 2] = column_map[first_part[~is_pair] + 2]
            return found

        layout: list[list[int]] = []

        def member_of(run: int) -> tuple[int, int, int]:
            if not layout:
                layout.extend((run_base.tolist(), lengths.tolist(), token_base.tolist(), column_map.tolist()))
            bases, row_lengths, token_bases, columns = layout
            row = bisect_right(bases, run) - 1  # rows without runs share the next row's base
            k, length = run - bases[row], row_lengths[row]
            first_part = token_bases[row] + (k if k < length - 1 else k - (length - 1))
            third = columns[first_part + 2] if k >= length - 1 else -1
            return columns[first_part], columns[first_part + 1], third

        run_flags = None if run_consonants is None else run_consonants[run_positions].view(np.bool_)
        table = TokenTable.of_vocabulary(vocabulary, unique_ids)
        return cls(table, texts, members, resolved, token_weights, run_flags, member_of)

    @_lazy
    def run_flags(self) -> BoolArray:
        """Per run: holds a token written in Arabic, Hebrew or Hangul."""
        if self._run_flags is not None:
            return self._run_flags
        if not self.tokens.any_consonants:
            return np.zeros(len(self.run_texts), dtype=np.bool_)
        flags = np.append(self.tokens.consonants, False)  # -1 (no third member) reads False
        return np.asarray(flags[self.run_members].any(axis=1), dtype=np.bool_)

    @_lazy
    def _member_lists(self) -> list[list[int]]:
        return self.run_members.tolist()  # type: ignore[no-any-return]

    def _run_member(self, run: int) -> tuple[int, int, int] | list[int]:
        """The token columns of one run (-1 pads a pair)."""
        if self._member_of is not None and "run_members" not in self.__dict__:
            return self._member_of(run)
        return self._member_lists[run]

    def skeletons_of(self, columns: list[int]) -> list[str]:
        """Skeletons of some token or run columns; runs' are built on first use, since most
        searches need few or none (``join_skeletons``, written out: it runs for every run)."""
        n_tokens = self.n_tokens
        skeletons = self.tokens.skeletons
        known = self._run_skeletons
        texts: list[str] = []
        for column in columns:
            if column < n_tokens:
                texts.append(skeletons[column])
                continue
            found = known.get(column)
            if found is None:
                first, second, third = self._run_member(column - n_tokens)
                found, more = skeletons[first], skeletons[second]
                found = found + more[1:] if found and more and found[-1] == more[0] else found + more
                if third >= 0:
                    more = skeletons[third]
                    found = found + more[1:] if found and more and found[-1] == more[0] else found + more
                known[column] = found
            texts.append(found)
        return texts

    @_lazy
    def logograms(self) -> list[str]:
        """Per token and run column: its Han characters when it is written only in Han, else ""."""
        tokens = self.tokens
        texts = [
            token.logogram if han else "" for token, han in zip(tokens.tokens, tokens.logogram.tolist(), strict=True)
        ]
        runs = [""] * len(self.run_texts)
        flags = np.append(tokens.logogram, False)[self.run_members]  # -1 (no third member) reads False
        all_han = flags[:, 0] & flags[:, 1] & (flags[:, 2] | (self.run_members[:, 2] < 0))
        for run in np.flatnonzero(all_han).tolist():
            runs[run] = "".join(texts[member] for member in self._member_lists[run] if member >= 0)
        return texts + runs

    @_lazy
    def consonants(self) -> BoolArray:
        """Per token and run column: written (at least partly) in Arabic, Hebrew or Hangul."""
        return np.concatenate([self.tokens.consonants, self.run_flags])

    @_lazy
    def consonant_columns(self) -> tuple[IntArray, IntArray]:
        """The columns written in no consonant script, and those written (partly) in one."""
        if not self.tokens.any_consonants:
            return np.arange(self.width - 1), np.zeros(0, dtype=np.int64)
        consonants = self.consonants
        return np.flatnonzero(~consonants), np.flatnonzero(consonants)


def align(query: QueryName, candidates: Sequence[Sequence[NameToken]]) -> BatchAlignment:
    """Score one query name against a batch of candidate names (token sequences)."""
    if not candidates:
        return BatchAlignment(np.zeros(0), [])
    return align_batch(query, CandidateBatch.of_names(candidates))


def align_batch(query: QueryName, batch: CandidateBatch) -> BatchAlignment:
    """Score one query name against a prepared batch of candidate names."""
    n_tokens = batch.n_tokens
    singles = len(query.name.tokens)
    # Every query run against every candidate token and run, by their letters; then the
    # single-token rules (variants, sounds, initials ...) on the single-token block, and
    # consonant skeletons across Arabic, Hebrew or Hangul and other scripts.
    matrix = np.zeros((len(query.texts), batch.width), dtype=np.float32)
    edits = matrix[:, :-1]
    _write_edit_scores(
        edits, query.texts, batch.texts, query.text_lengths, batch.text_lengths, max(query.longest, batch.longest_text)
    )
    if query.has_logograms and batch.tokens.any_logogram:
        _by_character(edits, query.logograms, batch.logograms)
    before = edits.copy()
    _single_scores(query.table, batch.tokens, edits[:singles, :n_tokens])
    skeletons: list[SkeletonBlock] = []
    if query.table.any_consonants or batch.tokens.any_consonants:
        skeletons = _skeletons_across(query, batch)
        for rows, columns, block in skeletons:
            cells = np.ix_(rows, columns)
            edits[cells] = np.maximum(edits[cells], block)
    # Pairs under MIN_PAIR_SCORE are not pairs.
    np.multiply(matrix, matrix >= MIN_PAIR_SCORE, out=matrix)
    scores = np.ascontiguousarray(matrix[:, batch.resolved].transpose(1, 0, 2))  # [count, q_spans, spans]

    return _greedy(query, batch, scores, _Reasons(query, batch, before, skeletons))


class _Reasons:
    """Why a query run and a batch column were paired (``PairReason``), worked out only for the
    pairs a search explains, by the rules that scored them: ``before`` holds the edit scores
    (Han by character) before the single-token rules and skeletons raised them."""

    def __init__(
        self, query: QueryName, batch: CandidateBatch, before: FloatArray, skeletons: list[SkeletonBlock]
    ) -> None:
        self.query, self.batch, self.before, self.skeletons = query, batch, before, skeletons

    def __call__(self, row: int, column: int) -> PairReason:
        if column >= self.before.shape[1]:
            return PairReason.NONE  # the zero column
        edit = self.before[row, column]
        if row < len(self.query.name.tokens) and column < self.batch.n_tokens:
            reason, current = _token_reason(self.query.table, row, self.batch.tokens, column, edit)
        else:
            reason, current = (PairReason.JOINED if edit > 0 else PairReason.NONE), edit
        return PairReason.SKELETON if self._skeleton(row, column) > current else reason

    def _skeleton(self, row: int, column: int) -> np.float32:
        for rows, columns, block in self.skeletons:
            at_row, at_column = int(np.searchsorted(rows, row)), int(np.searchsorted(columns, column))
            if at_row < len(rows) and rows[at_row] == row and at_column < len(columns) and columns[at_column] == column:
                return np.float32(block[at_row, at_column])
        return np.float32(0.0)

    def all(self) -> IntArray:
        """Every cell's reason at once, by the whole-matrix rules (``_single_rules``)."""
        query, batch, before = self.query, self.batch, self.before
        singles, n_tokens = len(query.name.tokens), batch.n_tokens
        found = np.full((before.shape[0], before.shape[1] + 1), PairReason.NONE, dtype=np.int64)
        found[:, :-1] = np.where(before > 0, PairReason.JOINED, PairReason.NONE)
        block_scores, block_reasons = _single_rules(query.table, batch.tokens, before[:singles, :n_tokens])
        found[:singles, :n_tokens] = block_reasons
        if self.skeletons:
            current = before.copy()
            current[:singles, :n_tokens] = block_scores
            skeleton = np.zeros_like(before)
            for rows, columns, block in self.skeletons:
                skeleton[np.ix_(rows, columns)] = block
            found[:, :-1][skeleton > current] = PairReason.SKELETON
        return found


def _token_reason(
    query: TokenTable, row: int, candidates: TokenTable, column: int, edit: np.float32
) -> tuple[PairReason, np.float32]:
    """``_single_rules`` for one query token and one candidate token: the reason and score."""
    zero = np.float32(0.0)
    values = [zero] * len(PairReason)
    both_logograms = bool(query.features[row, 2]) and bool(candidates.features[column, 2])
    same = bool(edit >= 1.0)
    values[PairReason.SAME] = np.float32(1.0) if same else zero
    values[PairReason.EDITS] = zero if same else edit
    if query.collapsed[row] == candidates.collapsed[column] and not same and not both_logograms:
        values[PairReason.DOUBLED] = _DOUBLED
    symbols, other = query.tokens[row].symbols, candidates.tokens[column].symbols
    if symbols and other and not symbols.isdisjoint(other) and not both_logograms:
        values[PairReason.VARIANT] = _VARIANT
    if query.phonetic[row] != 0 and query.phonetic[row] == candidates.phonetic[column] and not both_logograms:
        values[PairReason.PHONETIC] = _PHONETIC
    if query.first[row] == candidates.first[column] and (query.features[row, 4] or candidates.features[column, 4]):
        values[PairReason.INITIAL] = _INITIAL
    best = max(values)
    return PairReason(values.index(best)), best


def _greedy(query: QueryName, batch: CandidateBatch, scores: FloatArray, reasons: _Reasons) -> BatchAlignment:
    layout, token_weights, span_weights = batch.layout, batch.token_weights, batch.span_weights
    count, q_spans, spans = scores.shape
    rows = np.arange(count)
    flat = scores.reshape(count, q_spans * spans)
    numerator = np.zeros(count, dtype=np.float64)
    matched_weight = np.zeros(count, dtype=np.float64)
    q_layout = query.layout
    picks: list[tuple[IntArray, IntArray, FloatArray, BoolArray]] = []
    steps = min(len(query.token_weights), token_weights.shape[1])
    for step in range(steps):
        best_index = flat.argmax(axis=1)
        best = flat[rows, best_index]
        active = best > 0.0
        if not np.count_nonzero(active):
            break
        q_span, c_span = np.divmod(best_index, spans)
        weight = np.maximum(query.weights[q_span], span_weights[rows, c_span])
        # Where nothing is left, best is 0: the sums are unchanged without a test.
        numerator += best * weight
        matched_weight += weight * active
        picks.append((q_span, c_span, best, active))
        if step + 1 < steps:
            # The runs sharing a part with those just paired are out (a row with nothing
            # left has only zeros to lose).
            scores *= q_layout.keep[q_span][:, :, None]
            scores *= layout.keep[c_span][:, None, :]
    if picks:
        taken = np.array([active for _, _, _, active in picks])[:, :, None]  # [picks, count, 1]
        q_covered = np.logical_or.reduce(q_layout.cover[np.array([q_span for q_span, _, _, _ in picks])] & taken)
        c_covered = np.logical_or.reduce(layout.cover[np.array([c_span for _, c_span, _, _ in picks])] & taken)
    else:
        q_covered = np.zeros((count, len(query.token_weights)), dtype=np.bool_)
        c_covered = np.zeros((count, token_weights.shape[1]), dtype=np.bool_)
    missing = np.add.reduce((~q_covered) * query.token_weights[None, :], axis=1)
    extra = np.add.reduce((~c_covered) * token_weights, axis=1)
    denominator = matched_weight + MISSING_QUERY_PART * missing + EXTRA_CANDIDATE_PART * extra
    result = np.divide(numerator, denominator, out=np.zeros(count), where=denominator > 0)
    # Six decimals: the pair scores are 32-bit floats, and 0.8999999761 should read 0.9.
    return BatchAlignment(np.minimum(result, 1.0).round(6), picks, query, batch, reasons)
