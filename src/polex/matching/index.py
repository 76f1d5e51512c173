"""An in-memory watch list: blocking keys find a few dozen candidates, the matcher scores them.

Every name of every entry gets blocking keys: its tokens' Latin forms (doubled letters
written once, so "Mohammed" and "Mohamed" share one), their metaphone keys, their consonant
skeletons, the first and last four letters of tokens of seven letters or more (one typo
leaves one of them intact), adjacent tokens written together ("al" + "tikriti" ->
"altikriti"), the skeleton of the whole name, and for one-part names the one-letter
deletions. A key is a Python string hash cut to 62 bits (stable for the life of the process,
which is the life of the index); the postings are two numpy arrays sorted by key, ``keys``
(int64) and ``rows`` (int32 name rows): twelve bytes a posting, about ten postings a name.

A search looks up its own keys, plus the Latin forms of the indexed tokens that share a
variant group with one of its tokens (so "محمد" reaches "mohammed", "muhammad" ...). Keys with
more than ``COMMON_KEY`` postings ("mohammed", "kim") are not read in full: they only confirm
candidates that rarer keys found. Each query token ("unit") weighs its rarity (the IDF of
its rarest key); a candidate earns, for each unit, that rarity times the strength of the best
kind of key it shares (``KIND_WEIGHTS``: an exact form counts more than a sound-alike, which
counts more than shared affixes), plus ``YEAR_EVIDENCE`` when born within a year of the
query. Candidates with less than ``MIN_EVIDENCE_SHARE`` of the query name's rarity (or of the
best candidate's, when none has much) are dropped; the best ``SCORED_CANDIDATES`` entries are
scored with all of their names in one batch (``alignment.CandidateBatch.from_arrays``, which
reads names from flat arrays rather than objects), and those at or above the threshold come
back, best first.

New postings wait in a small sorted segment, merged into the main one when it grows past an
eighth of it. Removed entries are skipped at once, and the index is rebuilt without them once
they are a quarter of it (or on ``compact``).
"""

from __future__ import annotations

import random
import sys
from array import array
from dataclasses import dataclass
from itertools import pairwise
from typing import Any

import numpy as np
import numpy.typing as npt

from polex.matching.alignment import CandidateBatch, QueryName, Vocabulary, token_features
from polex.matching.model import Candidate, PersonQuery
from polex.matching.names import NameToken, PreparedName, TokenKind, collapse_doubles, join_skeletons
from polex.matching.scoring import (
    MAX_BONUS,
    MAX_BONUS_WITHOUT_IDENTIFIERS,
    BirthDate,
    NameScores,
    PersonMatcher,
    PreparedPerson,
    best_names_in_batch,
    match_result,
    points,
    total_score,
)

# Kinds of blocking keys, weakest first, and how much a hit of each kind counts.
AFFIX, EDITS, CONSONANTS, SOUND, VARIANT, EXACT = range(6)
KIND_WEIGHTS = np.array([0.5, 0.7, 0.7, 0.8, 0.9, 1.0])
_KIND_BITS = 3
_KINDS = 1 << _KIND_BITS  # room in the packed (row, unit, kind) integers
# KIND_WEIGHTS by packed code (the kinds are packed strongest first: code = _KINDS - 1 - kind).
_CODE_WEIGHTS = np.array([KIND_WEIGHTS[_KINDS - 1 - code] if _KINDS - 1 - code < len(KIND_WEIGHTS) else 0.0
                          for code in range(_KINDS)])  # fmt: skip
YEAR_EVIDENCE = 2.0  # ranks namesakes born within a year of the query's year first
AFFIX_MIN_LENGTH = 7
COMMON_KEY = 2_000
SCORED_CANDIDATES = 48
# Candidates must share at least this part of the query name's rarity (summed IDF). From the
# quality benchmark, when it was chosen: 0.5 lost none of the 683 true matches and made
# searches 2.4 times faster than no cut; 0.6 lost two.
MIN_EVIDENCE_SHARE = 0.5
MAX_VARIANT_FORMS = 32
_QUERY_KEY_CACHE = 50_000  # query tokens whose keys are kept
_MERGE_FLOOR = 50_000

Int64Array = npt.NDArray[np.int64]
Int32Array = npt.NDArray[np.int32]


def _skeleton_prefix(by_consonants: bool) -> str:
    # Skeletons of Arabic, Hebrew and Hangul tokens ("k") are kept apart from those of other
    # scripts ("l"): every query reads "k" keys, but a Latin query reads "l" keys only for
    # skeletons of four consonants or more, since short Latin skeletons are shared by many
    # unrelated names; a query in those scripts reads both.
    return "k" if by_consonants else "l"


# Keys are string hashes cut to 62 bits, so that a key plus one never overflows int64.
_KEY_MASK = (1 << 62) - 1


def _key(text: str) -> int:
    return hash(text) & _KEY_MASK


def _deletions(text: str) -> set[str]:
    """The text and every text one letter shorter: two texts one edit apart share one."""
    return {text} | {text[:index] + text[index + 1 :] for index in range(len(text))}


def _affixes(text: str) -> list[str]:
    """The first and last four letters of a long token: one typo leaves one of them intact."""
    if len(text) < AFFIX_MIN_LENGTH:
        return []
    return ["a" + text[:4], "z" + text[-4:]]


def _first_of_runs(values: npt.NDArray[np.integer[Any]]) -> npt.NDArray[np.bool_]:
    """True where a sorted array's value differs from the one before it."""
    first = np.ones(len(values), dtype=np.bool_)
    first[1:] = values[1:] != values[:-1]
    return first


@dataclass(frozen=True, slots=True)
class _Postings:
    """Postings sorted by key, each key stored once: the name rows holding ``keys[i]`` are
    ``rows[starts[i]:starts[i + 1]]``, in ascending order. Storing each key once rather than
    once a posting halves the memory of the postings and the range a search looks keys up in."""

    keys: Int64Array
    starts: Int64Array
    rows: Int32Array

    @classmethod
    def empty(cls) -> _Postings:
        return cls(np.zeros(0, dtype=np.int64), np.zeros(1, dtype=np.int64), np.zeros(0, dtype=np.int32))

    def __len__(self) -> int:
        return len(self.rows)

    def expanded(self) -> tuple[Int64Array, Int32Array]:
        """One (key, row) a posting."""
        return np.repeat(self.keys, np.diff(self.starts)), self.rows

    @classmethod
    def merged(cls, base: _Postings, keys: Int64Array, rows: Int32Array) -> _Postings:
        """``base`` and the postings ``(keys, rows)``, whose rows come after base's."""
        base_keys, base_rows = base.expanded()
        all_keys = np.concatenate([base_keys, keys])
        order = np.argsort(all_keys, kind="stable")
        all_keys = all_keys[order]
        first = _first_of_runs(all_keys)
        starts = np.append(np.flatnonzero(first), len(all_keys)).astype(np.int64)
        return cls(all_keys[first], starts, np.concatenate([base_rows, rows])[order])

    def ranges(self, keys: Int64Array) -> tuple[Int64Array, Int64Array]:
        """Where each key's postings begin and end in ``rows`` (an empty range when absent)."""
        if not len(self.keys):
            nothing = np.zeros(len(keys), dtype=np.int64)
            return nothing, nothing
        at = np.searchsorted(self.keys, keys)
        np.minimum(at, len(self.keys) - 1, out=at)
        low = self.starts[at]
        return low, np.where(self.keys[at] == keys, self.starts[at + 1], low)

    def nbytes(self) -> int:
        return self.keys.nbytes + self.starts.nbytes + self.rows.nbytes


def name_keys(name: PreparedName) -> set[int]:
    """The blocking keys of an indexed name."""
    keys: set[int] = set()
    tokens = name.tokens
    named = [token for token in tokens if token.kind == TokenKind.NAME]
    for token in named:
        keys.add(_key("t" + token.collapsed))
        if token.phonetic:
            keys.add(_key("p" + token.phonetic))
        if len(token.skeleton) >= 3:
            keys.add(_key(_skeleton_prefix(token.by_consonants) + token.skeleton))
        keys.update(_key(text) for text in _affixes(token.collapsed))
    if len(named) == 1:
        # A one-part name has no other part to be found by when this one is misspelt.
        keys.update(_key("d" + text) for text in _deletions(named[0].collapsed))
    for first, second in pairwise(tokens):
        keys.add(_key("t" + collapse_doubles(first.compare + second.compare)))
    if 2 <= len(tokens) <= 4:
        whole = join_skeletons([token.skeleton for token in tokens])
        if len(whole) >= 3:
            keys.add(_key(_skeleton_prefix(any(token.by_consonants for token in tokens)) + whole))
    return keys


class PersonIndex:
    """Watch-list entries by id, searchable by person.

    ``search`` returns the entries whose score is at or above ``threshold`` (the matcher's
    threshold when not given), best first, at most ``limit``, each with ``match`` judged at
    the matcher's threshold; pass ``threshold=0`` for the ``limit`` best candidates whatever
    their score. Not thread-safe: guard it with a lock or give each worker its own index.
    """

    def __init__(self, matcher: PersonMatcher | None = None) -> None:
        self.matcher = matcher or PersonMatcher()
        self._reset()

    def _reset(self) -> None:
        self._row_of: dict[str, int] = {}
        self._entry_ids: list[str | None] = []
        self._people: list[PreparedPerson | None] = []
        self._name_start = array("q", [0])  # entry row -> its first name row (one past the end last)
        self._name_entry = array("i")  # name row -> entry row
        # Names as arrays, so that a batch of candidates is laid out with numpy: token ids of
        # name r are _name_tokens[_token_start[r]:_token_start[r + 1]]; its runs of two and
        # three tokens written together, in the layout CandidateBatch.from_arrays reads.
        self._name_tokens = array("i")
        self._token_start = array("q", [0])
        self._run_texts: list[str] = []
        self._run_consonants = array("b")  # run -> 1 when it holds a token written in Arabic, Hebrew or Hangul
        self._run_start = array("q", [0])
        self._vocabulary: dict[tuple[str, TokenKind], int] = {}
        self._tokens: list[NameToken] = []
        self._token_compares: list[str] = []  # the tokens' compare forms and skeletons, read by batches
        self._token_skeletons: list[str] = []
        self._token_weights = array("f")
        self._token_features = array("q")  # alignment.token_features of each token, six a token
        self._token_keys = array("q")  # each token's exact blocking key, which queries read for its variants
        self._variant_tokens: dict[int, list[int]] = {}  # symbol -> ids of the indexed tokens with it
        self._entry_year = array("h")  # entry row -> birth year, 0 when unknown
        # Equal dates and nationality sets are stored once.
        self._dates: dict[BirthDate | None, BirthDate | None] = {}
        self._countries: dict[frozenset[str], frozenset[str]] = {}
        self._entry_documents = array("b")  # entry row -> 1 when it holds identifiers
        self._main = _Postings.empty()
        self._delta = _Postings.empty()
        self._pending_keys = array("q")
        self._pending_rows = array("i")
        self._removed = 0
        self._slots = np.zeros(0, dtype=np.int32)  # scratch for _confirm_common: -1 outside a search
        self._query_key_cache: dict[NameToken, tuple[list[tuple[int, int]], list[int], list[int]]] = {}
        self._query_key_vocabulary = 0

    def __len__(self) -> int:
        return len(self._row_of)

    # -- writing ---------------------------------------------------------------------------

    def add(self, entry_id: str, person: PersonQuery) -> None:
        """Index ``person`` under ``entry_id``, replacing any entry with that id."""
        if not isinstance(entry_id, str) or not entry_id:
            raise ValueError("entry_id: must be a non-empty string")
        prepared = self.matcher.prepare(person)
        self.remove(entry_id)
        self._append(entry_id, prepared)

    def _append(self, entry_id: str, prepared: PreparedPerson) -> None:
        prepared = self._intern(prepared)
        entry_row = len(self._entry_ids)
        self._row_of[entry_id] = entry_row
        self._entry_ids.append(entry_id)
        self._people.append(prepared)
        self._entry_year.append(prepared.birth_date.year if prepared.birth_date else 0)
        self._entry_documents.append(1 if prepared.identifiers else 0)
        for name in prepared.names:
            name_row = len(self._name_entry)
            self._name_entry.append(entry_row)
            tokens = name.tokens
            self._name_tokens.extend(self._token_id(token) for token in tokens)
            self._token_start.append(len(self._name_tokens))
            compares = [token.compare for token in tokens]
            consonants = [token.by_consonants for token in tokens]
            for size in (2, 3):
                for i in range(len(tokens) - size + 1):
                    self._run_texts.append("".join(compares[i : i + size]))
                    self._run_consonants.append(1 if any(consonants[i : i + size]) else 0)
            self._run_start.append(len(self._run_texts))
            keys = name_keys(name)
            self._pending_keys.extend(keys)
            self._pending_rows.extend([name_row] * len(keys))
        self._name_start.append(len(self._name_entry))

    def remove(self, entry_id: str) -> None:
        """Drop the entry; nothing happens when there is none."""
        entry_row = self._row_of.pop(entry_id, None)
        if entry_row is None:
            return
        self._entry_ids[entry_row] = None
        self._people[entry_row] = None
        self._removed += 1

    def compact(self) -> None:
        """Merge waiting postings into the main arrays; rebuild without removed entries.

        ``search`` merges on its own when needed, and rebuilds once a quarter of the entries
        are removed ones; call this after a bulk load or many removals to pay the cost up front.
        """
        if self._removed:
            self._rebuild()
        self._flush_pending()
        self._merge()

    def _rebuild(self) -> None:
        """Index the live entries again, in their order: frees what removed entries held."""
        live = [
            (entry_id, person)
            for entry_id, person in zip(self._entry_ids, self._people, strict=True)
            if entry_id is not None and person is not None
        ]
        self._reset()
        for entry_id, person in live:
            self._append(entry_id, person)

    def _intern(self, person: PreparedPerson) -> PreparedPerson:
        names = tuple(
            PreparedName(name.text, tuple(self._tokens[self._token_id(token)] for token in name.tokens))
            for name in person.names
        )
        birth_date = self._dates.setdefault(person.birth_date, person.birth_date)
        nationalities = self._countries.setdefault(person.nationalities, person.nationalities)
        return PreparedPerson(names, birth_date, nationalities, person.sex, person.identifiers)

    def _token_id(self, token: NameToken) -> int:
        key = (token.form, token.kind)
        known = self._vocabulary.get(key)
        if known is not None:
            return known
        token_id = self._vocabulary[key] = len(self._tokens)
        self._tokens.append(token)
        self._token_compares.append(token.compare)
        self._token_skeletons.append(token.skeleton)
        self._token_weights.append(token.weight)
        self._token_features.extend(token_features(token))
        self._token_keys.append(_key("t" + token.collapsed))
        for symbol in token.symbols:
            self._variant_tokens.setdefault(symbol, []).append(token_id)
        return token_id

    def _flush_pending(self) -> None:
        if self._removed * 4 > max(1_000, len(self._row_of)):
            self._rebuild()
        if not self._pending_keys:
            return
        pending = (np.frombuffer(self._pending_keys, dtype=np.int64), np.frombuffer(self._pending_rows, dtype=np.int32))
        self._delta = _Postings.merged(self._delta, *pending)
        self._pending_keys, self._pending_rows = array("q"), array("i")
        if len(self._delta) > max(_MERGE_FLOOR, len(self._main) // 8):
            self._merge()

    def _merge(self) -> None:
        if not len(self._delta):
            return
        self._main = _Postings.merged(self._main, *self._delta.expanded())
        self._delta = _Postings.empty()

    # -- reading ---------------------------------------------------------------------------

    def search(
        self, query: PersonQuery, *, limit: int = 10, threshold: float | None = None, explain: bool = True
    ) -> list[Candidate]:
        """The entries scoring at least ``threshold``, best first (ties by entry id), at most ``limit``.

        ``threshold`` defaults to the matcher's threshold; a lower one returns near misses as
        well. ``match`` is always judged at the matcher's threshold (``DEFAULT_THRESHOLD``
        unless the matcher was given another), so with the default every result is a match.
        ``explain=False`` leaves the explanations out, which is faster for batch screening.
        """
        if limit < 1:
            raise ValueError("limit: must be at least 1")
        cut = self.matcher.threshold if threshold is None else threshold
        if not 0.0 <= cut <= 1.0:
            raise ValueError("threshold: must be between 0 and 1")
        prepared = self.matcher.prepare(query)
        query_names = self.matcher.query_names(prepared)
        entries = self._candidate_entries(prepared)
        if not entries:
            return []
        found = self._name_scores(query_names, entries)
        name_scores = np.asarray(found.scores, dtype=np.float64)
        # Even the best birth date, nationality and documents cannot lift a candidate whose
        # name score is this far below the cut: only the others are looked at further.
        if prepared.identifiers:
            documents = np.frombuffer(self._entry_documents, dtype=np.int8)[np.array(entries, dtype=np.int64)]
            bonus: float | npt.NDArray[np.float64] = np.where(documents > 0, MAX_BONUS, MAX_BONUS_WITHOUT_IDENTIFIERS)
        else:
            bonus = MAX_BONUS_WITHOUT_IDENTIFIERS
        scored: list[tuple[float, str, int]] = []
        for position in np.flatnonzero(name_scores + bonus >= cut).tolist():
            entry_row = entries[position]
            person, entry_id = self._people[entry_row], self._entry_ids[entry_row]
            if person is None or entry_id is None:
                continue
            total = total_score(float(name_scores[position]), points(prepared, person))
            if total >= cut:
                scored.append((total, entry_id, position))
        scored.sort(key=lambda item: (-item[0], item[1]))
        results: list[Candidate] = []
        match_at = self.matcher.threshold
        for score, entry_id, position in scored[:limit]:
            person = self._people[entries[position]]
            if not explain or person is None:
                results.append(Candidate(entry_id, score, score >= match_at, ()))
                continue
            result = match_result(query_names, prepared, person, found, position, match_at)
            results.append(Candidate(entry_id, result.score, result.match, result.explanation))
        return results

    def _name_scores(self, query_names: list[QueryName], entries: list[int]) -> NameScores:
        """Every query name against every name of the entries, laid out from the arrays."""
        name_start = np.frombuffer(self._name_start, dtype=np.int64)
        entry_rows = np.array(entries, dtype=np.int64)
        firsts, counts = name_start[entry_rows], name_start[entry_rows + 1] - name_start[entry_rows]
        rows = np.repeat(firsts - np.cumsum(counts) + counts, counts) + np.arange(int(counts.sum()))
        vocabulary = Vocabulary(
            self._tokens,
            np.frombuffer(self._token_features, dtype=np.int64).reshape(-1, 6),
            np.frombuffer(self._token_weights, dtype=np.float32),
            self._token_compares,
            self._token_skeletons,
            self._variant_tokens,
        )
        batch = CandidateBatch.from_arrays(
            rows,
            np.frombuffer(self._name_tokens, dtype=np.int32),
            np.frombuffer(self._token_start, dtype=np.int64),
            vocabulary,
            self._run_texts,
            np.frombuffer(self._run_start, dtype=np.int64),
            np.frombuffer(self._run_consonants, dtype=np.int8),
        )
        return best_names_in_batch(query_names, batch, counts.tolist())

    def candidate_ids(self, query: PersonQuery) -> list[str]:
        """The ids of the entries a search scores, best blocking evidence first (at most
        ``SCORED_CANDIDATES``). The quality benchmark hands the same entries to other matchers."""
        rows = self._candidate_entries(self.matcher.prepare(query))
        return [entry_id for entry_id in (self._entry_ids[row] for row in rows) if entry_id is not None]

    def _candidate_entries(self, prepared: PreparedPerson) -> list[int]:
        self._flush_pending()
        segments = [segment for segment in (self._main, self._delta) if len(segment)]
        if not segments:
            return []
        keys, units, kinds, unit_names, unit_count = self._query_keys(prepared)
        if not keys:
            return []
        key_array = np.array(keys, dtype=np.int64)
        unit_array = np.array(units, dtype=np.int64)
        kind_array = np.array(kinds, dtype=np.int64)
        bounds = [segment.ranges(key_array) for segment in segments]
        frequency = bounds[0][1] - bounds[0][0]
        for low, high in bounds[1:]:
            frequency = frequency + (high - low)
        # Rarity of each query unit: the IDF of its rarest key.
        found = frequency > 0
        unit_idf = np.zeros(unit_count, dtype=np.float64)
        idf = np.log1p(max(1, len(self._name_entry)) / frequency[found])
        np.maximum.at(unit_idf, unit_array[found], idf)
        rare = frequency <= COMMON_KEY
        # (name row, unit, kind) packed in one integer; sorted, each (row, unit) comes first
        # with its strongest kind of key.
        unit_bits = max(1, (unit_count - 1).bit_length())
        row_shift = _KIND_BITS + unit_bits
        key_codes = (unit_array << _KIND_BITS) | (_KINDS - 1 - kind_array)
        pieces: list[Int32Array] = []
        lengths: list[int] = []
        piece_codes: list[int] = []
        for (low, high), segment in zip(bounds, segments, strict=True):
            rows = segment.rows
            for index in np.flatnonzero(rare & (high > low)).tolist():
                piece = rows[low[index] : high[index]]
                pieces.append(piece)
                lengths.append(len(piece))
                piece_codes.append(int(key_codes[index]))
        if pieces:
            codes = np.concatenate(pieces).astype(np.int64)
            codes <<= row_shift
            codes |= np.repeat(np.array(piece_codes, dtype=np.int64), lengths)
            codes.sort()
            codes = codes[_first_of_runs(codes >> _KIND_BITS)]
            name_rows = codes >> row_shift
            first = _first_of_runs(name_rows)
            candidates = name_rows[first]
            flat = np.zeros(len(candidates) * unit_count, dtype=np.float64)
            cells = (np.cumsum(first) - 1) * unit_count + ((codes >> _KIND_BITS) & ((1 << unit_bits) - 1))
            flat[cells] = _CODE_WEIGHTS[codes & (_KINDS - 1)]
            strength = flat.reshape(len(candidates), unit_count)
        else:
            candidates = self._common_intersection(segments, bounds, frequency, unit_array)
            strength = np.zeros((len(candidates), unit_count), dtype=np.float64)
        if len(candidates) == 0:
            return []
        # A candidate sharing little of the query name's rarity cannot score high on names;
        # skipping it is most of what makes a search cheap. The share is of what the best
        # candidate shares when none shares much: a misspelt part may find nothing at all.
        name_evidence = float(np.bincount(np.array(unit_names, dtype=np.int64), weights=unit_idf).max())
        common = np.flatnonzero(found & ~rare)
        if len(common):
            self._confirm_common(candidates, strength, segments, bounds, common, unit_array, kind_array)
        evidence = strength @ unit_idf
        enough = evidence >= MIN_EVIDENCE_SHARE * min(name_evidence, evidence.max())
        candidates, evidence = candidates[enough], evidence[enough]
        if prepared.birth_date is not None:
            # Among namesakes, those born about the same year come first.
            entries = np.frombuffer(self._name_entry, dtype=np.int32)[candidates]
            years = np.frombuffer(self._entry_year, dtype=np.int16)[entries].astype(np.int64)
            evidence = evidence + YEAR_EVIDENCE * (np.abs(years - prepared.birth_date.year) <= 1)
        return self._best_entries(candidates, evidence)

    def _query_keys(self, prepared: PreparedPerson) -> tuple[list[int], list[int], list[int], list[int], int]:
        """Keys of the query; for each, the query token ("unit") it stands for and its kind
        (``KIND_WEIGHTS``); for each unit, the query name it belongs to; the number of units."""
        keys: list[int] = []
        units: list[int] = []
        kinds: list[int] = []
        unit_names: list[int] = []
        seen: dict[int, int] = {}  # key -> its position, so that a key counts once, at its strongest

        def add(text: str, unit: int, kind: int) -> None:
            add_key(_key(text), unit, kind)

        def add_key(key: int, unit: int, kind: int) -> None:
            position = seen.get(key)
            if position is None:
                seen[key] = len(keys)
                keys.append(key)
                units.append(unit)
                kinds.append(kind)
            elif kinds[position] < kind:
                units[position], kinds[position] = unit, kind

        unit = 0
        for name_number, name in enumerate(prepared.names):
            unit_names.extend([name_number] * len(name.tokens))
            tokens = name.tokens
            first_unit = unit
            single = sum(token.kind == TokenKind.NAME for token in tokens) == 1
            for token in tokens:
                if token.kind == TokenKind.NAME:
                    head, deletions, affixes = self._token_query_keys(token)
                    for key, kind in head:
                        add_key(key, unit, kind)
                    if single:
                        for key in deletions:
                            add_key(key, unit, EDITS)
                    for key in affixes:
                        add_key(key, unit, AFFIX)
                unit += 1
            # Runs of two and three tokens written together meet single indexed tokens and
            # indexed pairs; their evidence goes to the run's last token.
            for size in (2, 3):
                for start in range(len(tokens) - size + 1):
                    run = "".join(token.compare for token in tokens[start : start + size])
                    add("t" + collapse_doubles(run), first_unit + start + size - 1, EXACT)
            if len(tokens) <= 4:
                whole = join_skeletons([token.skeleton for token in tokens])
                if len(whole) >= 3:
                    add("k" + whole, unit - 1, CONSONANTS)
                    if any(token.by_consonants for token in tokens):
                        add("l" + whole, unit - 1, CONSONANTS)
        return keys, units, kinds, unit_names, max(unit, 1)

    def _token_query_keys(self, token: NameToken) -> tuple[list[tuple[int, int]], list[int], list[int]]:
        """A query token's keys: (key, kind) of its form, its variants' forms, its sound and
        skeletons; the keys of its one-letter deletions; those of its affixes. Cached: query
        tokens recur; a token's variants change when the vocabulary grows, which resets it."""
        vocabulary = len(self._tokens)
        if self._query_key_vocabulary != vocabulary or len(self._query_key_cache) >= _QUERY_KEY_CACHE:
            self._query_key_cache.clear()
            self._query_key_vocabulary = vocabulary
        found = self._query_key_cache.get(token)
        if found is not None:
            return found
        head = [(_key("t" + token.collapsed), EXACT)]
        token_keys = self._token_keys
        for symbol in token.symbols:
            for token_id in self._variant_tokens.get(symbol, ())[:MAX_VARIANT_FORMS]:
                head.append((token_keys[token_id], VARIANT))
        if token.phonetic:
            head.append((_key("p" + token.phonetic), SOUND))
        if len(token.skeleton) >= 3:
            head.append((_key("k" + token.skeleton), CONSONANTS))
        if len(token.skeleton) >= (3 if token.by_consonants else 4):
            head.append((_key("l" + token.skeleton), CONSONANTS))
        found = (
            head,
            [_key("d" + text) for text in _deletions(token.collapsed)],
            [_key(text) for text in _affixes(token.collapsed)],
        )
        self._query_key_cache[token] = found
        return found

    def _confirm_common(
        self,
        candidates: Int64Array,
        strength: npt.NDArray[np.float64],
        segments: list[_Postings],
        bounds: list[tuple[Int64Array, Int64Array]],
        common: Int64Array,
        units: Int64Array,
        kinds: Int64Array,
    ) -> None:
        """Evidence from common keys, read only for the candidates rarer keys found.

        A common key holds thousands of names: each is looked up in a dense array of name
        rows (the candidate's position, -1 for none), one memory read a posting.
        """
        slots = self._slots
        if len(slots) < len(self._name_entry):
            slots = self._slots = np.full(len(self._name_entry) + len(self._name_entry) // 4, -1, dtype=np.int32)
        slots[candidates] = np.arange(len(candidates), dtype=np.int32)
        try:
            for (low, high), segment in zip(bounds, segments, strict=True):
                for index in common.tolist():
                    positions = slots[segment.rows[low[index] : high[index]]]
                    positions = positions[positions >= 0]
                    unit = int(units[index])
                    strength[positions, unit] = np.maximum(strength[positions, unit], KIND_WEIGHTS[int(kinds[index])])
        finally:
            slots[candidates] = -1

    def _common_intersection(
        self,
        segments: list[_Postings],
        bounds: list[tuple[Int64Array, Int64Array]],
        frequency: Int64Array,
        units: Int64Array,
    ) -> Int64Array:
        """Candidates when every key is common: names holding the two rarest tokens together."""
        order = np.argsort(frequency, kind="stable")
        picked: list[int] = []
        for index in order.tolist():
            if frequency[index] == 0:
                continue
            if not picked or units[index] != units[picked[0]]:
                picked.append(index)
            if len(picked) == 2:
                break
        postings = []
        for index in picked:
            parts = [
                segment.rows[low[index] : high[index]] for (low, high), segment in zip(bounds, segments, strict=True)
            ]
            postings.append(np.unique(np.concatenate(parts)).astype(np.int64))
        if not postings:
            return np.zeros(0, dtype=np.int64)
        if len(postings) == 1:
            # A lone common name: any of its holders is as good as another.
            return postings[0][:SCORED_CANDIDATES]
        return np.intersect1d(postings[0], postings[1], assume_unique=True)

    def _best_entries(self, name_rows: Int64Array, evidence: npt.NDArray[np.float64]) -> list[int]:
        name_entry = np.frombuffer(self._name_entry, dtype=np.int32)
        entries = name_entry[name_rows]
        # Best evidence per entry, then the entries with the most. Name rows come in order, and
        # an entry's names are consecutive rows: its best evidence is the best of its run.
        first = _first_of_runs(entries)
        if np.count_nonzero(first) < len(first):
            evidence = np.maximum.reduceat(evidence, np.flatnonzero(first))
            entries = entries[first]
        if len(entries) > SCORED_CANDIDATES:
            # The entries with the most evidence; among equals, those added first (entries
            # are in row order here), so that the choice does not depend on the arrays' order.
            least = np.partition(evidence, len(evidence) - SCORED_CANDIDATES)[len(evidence) - SCORED_CANDIDATES]
            above = np.flatnonzero(evidence > least)
            tied = np.flatnonzero(evidence == least)[: SCORED_CANDIDATES - len(above)]
            top = np.sort(np.concatenate([above, tied]))
            entries, evidence = entries[top], evidence[top]
        ranked: list[int] = entries[np.argsort(-evidence, kind="stable")].tolist()
        if not self._removed:
            return ranked
        alive = self._people
        return [row for row in ranked if alive[row] is not None]

    # -- accounting ------------------------------------------------------------------------

    def memory_bytes(self) -> int:
        """Estimated bytes held: arrays exactly, tokens and run texts in full, entries from a sample.

        Entries are measured on up to 2,000 random live entries (their prepared names, id
        string and identifiers) and scaled to all of them; the rest (postings and name arrays,
        token vocabulary, run texts, variant lists, the id dictionary, shared dates and
        country sets) in full. Removed entries count until the index is rebuilt. Not counted:
        the name data rigour and ICU load once per process, whatever the index size.
        """
        arrays = self._main.nbytes() + self._delta.nbytes()
        arrays += sum(
            part.buffer_info()[1] * part.itemsize
            for part in (
                self._name_start,
                self._name_entry,
                self._name_tokens,
                self._token_start,
                self._run_start,
                self._token_weights,
                self._token_features,
                self._entry_year,
                self._entry_documents,
                self._run_consonants,
                self._token_keys,
                self._pending_keys,
                self._pending_rows,
            )
        )
        containers = sum(
            sys.getsizeof(part)
            for part in (
                self._entry_ids,
                self._people,
                self._row_of,
                self._run_texts,
                self._tokens,
                self._token_compares,
                self._token_skeletons,
            )
        )
        runs = sum(map(sys.getsizeof, self._run_texts))
        vocabulary = sys.getsizeof(self._vocabulary) + sum(
            sys.getsizeof(key) + _token_bytes(token) for key, token in zip(self._vocabulary, self._tokens, strict=True)
        )
        variants = sys.getsizeof(self._variant_tokens) + sum(
            sys.getsizeof(ids) for ids in self._variant_tokens.values()
        )
        shared = sys.getsizeof(self._dates) + sys.getsizeof(self._countries)
        shared += sum(_object_bytes(value) for value in (*self._dates.values(), *self._countries.values()))
        live = [row for row, person in enumerate(self._people) if person is not None]
        sample = random.Random(0).sample(live, min(2_000, len(live)))  # noqa: S311 - a sample, not a secret
        per_entry = 0.0
        if sample:
            total = 0
            for row in sample:
                person, entry_id = self._people[row], self._entry_ids[row]
                if person is not None and entry_id is not None:
                    total += sys.getsizeof(entry_id) + _person_bytes(person)
            per_entry = total / len(sample)
        return int(arrays + containers + runs + vocabulary + variants + shared + per_entry * len(live))


def _token_bytes(token: NameToken) -> int:
    strings = {id(text): text for text in (token.form, token.latin, token.compare, token.phonetic, token.skeleton)}
    size = sys.getsizeof(token) + sum(sys.getsizeof(text) for text in strings.values())
    return size + (sys.getsizeof(token.symbols) if token.symbols else 0)


def _object_bytes(value: object) -> int:
    if isinstance(value, frozenset | tuple | list):
        return sys.getsizeof(value) + sum(sys.getsizeof(item) for item in value)
    return sys.getsizeof(value)


def _person_bytes(person: PreparedPerson) -> int:
    # Tokens, dates and country sets are shared and counted elsewhere.
    size = sys.getsizeof(person) + sys.getsizeof(person.names)
    for name in person.names:
        size += sys.getsizeof(name) + sys.getsizeof(name.text) + sys.getsizeof(name.tokens)
    if person.identifiers:
        size += _object_bytes(person.identifiers)
    return size
