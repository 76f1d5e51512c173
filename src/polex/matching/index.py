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
from itertools import pairwise

import numpy as np
import numpy.typing as npt

from polex.matching.alignment import CandidateBatch, QueryName, token_features
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
    qualify,
    total_score,
)

# Kinds of blocking keys, weakest first, and how much a hit of each kind counts.
AFFIX, EDITS, CONSONANTS, SOUND, VARIANT, EXACT = range(6)
KIND_WEIGHTS = np.array([0.5, 0.7, 0.7, 0.8, 0.9, 1.0])
_KINDS = 8  # room in the packed (row, unit, kind) integers
YEAR_EVIDENCE = 2.0  # ranks namesakes born within a year of the query's year first
AFFIX_MIN_LENGTH = 7
COMMON_KEY = 2_000
SCORED_CANDIDATES = 48
# Candidates must share at least this part of the query name's rarity (summed IDF). From the
# quality benchmark, when it was chosen: 0.5 lost none of the 683 true matches and made
# searches 2.4 times faster than no cut; 0.6 lost two.
MIN_EVIDENCE_SHARE = 0.5
MAX_VARIANT_FORMS = 32
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


def _first_of_runs(values: npt.NDArray[np.int64]) -> npt.NDArray[np.bool_]:
    """True where a sorted array's value differs from the one before it."""
    first = np.ones(len(values), dtype=np.bool_)
    first[1:] = values[1:] != values[:-1]
    return first


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
        self._run_start = array("q", [0])
        self._vocabulary: dict[tuple[str, TokenKind], int] = {}
        self._tokens: list[NameToken] = []
        self._token_weights = array("f")
        self._token_features = array("q")  # alignment.token_features of each token, six a token
        self._variant_tokens: dict[int, list[int]] = {}  # symbol -> ids of the indexed tokens with it
        self._entry_year = array("h")  # entry row -> birth year, 0 when unknown
        # Equal dates and nationality sets are stored once.
        self._dates: dict[BirthDate | None, BirthDate | None] = {}
        self._countries: dict[frozenset[str], frozenset[str]] = {}
        self._keys: Int64Array = np.zeros(0, dtype=np.int64)
        self._rows: Int32Array = np.zeros(0, dtype=np.int32)
        self._delta_keys: Int64Array = np.zeros(0, dtype=np.int64)
        self._delta_rows: Int32Array = np.zeros(0, dtype=np.int32)
        self._pending_keys = array("q")
        self._pending_rows = array("i")
        self._removed = 0

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
        for name in prepared.names:
            name_row = len(self._name_entry)
            self._name_entry.append(entry_row)
            tokens = name.tokens
            self._name_tokens.extend(self._token_id(token) for token in tokens)
            self._token_start.append(len(self._name_tokens))
            compares = [token.compare for token in tokens]
            for size in (2, 3):
                self._run_texts.extend("".join(compares[i : i + size]) for i in range(len(tokens) - size + 1))
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
        self._token_weights.append(token.weight)
        self._token_features.extend(token_features(token))
        for symbol in token.symbols:
            self._variant_tokens.setdefault(symbol, []).append(token_id)
        return token_id

    def _flush_pending(self) -> None:
        if self._removed * 4 > max(1_000, len(self._row_of)):
            self._rebuild()
        if not self._pending_keys:
            return
        keys = np.concatenate([self._delta_keys, np.frombuffer(self._pending_keys, dtype=np.int64)])
        rows = np.concatenate([self._delta_rows, np.frombuffer(self._pending_rows, dtype=np.int32)])
        order = np.argsort(keys, kind="stable")
        self._delta_keys, self._delta_rows = keys[order], rows[order]
        self._pending_keys, self._pending_rows = array("q"), array("i")
        if len(self._delta_keys) > max(_MERGE_FLOOR, len(self._keys) // 8):
            self._merge()

    def _merge(self) -> None:
        if not len(self._delta_keys):
            return
        keys = np.concatenate([self._keys, self._delta_keys])
        rows = np.concatenate([self._rows, self._delta_rows])
        order = np.argsort(keys, kind="stable")
        self._keys, self._rows = keys[order], rows[order]
        self._delta_keys = np.zeros(0, dtype=np.int64)
        self._delta_rows = np.zeros(0, dtype=np.int32)

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
        scored: list[tuple[float, str, int]] = []
        for position, (entry_row, name_score) in enumerate(zip(entries, found.scores, strict=True)):
            person, entry_id = self._people[entry_row], self._entry_ids[entry_row]
            if person is None or entry_id is None:
                continue
            bonus = MAX_BONUS if prepared.identifiers and person.identifiers else MAX_BONUS_WITHOUT_IDENTIFIERS
            if name_score + bonus < cut:
                continue  # even the best birth date, nationality and documents cannot lift it
            points, _ = qualify(prepared, person)
            total = total_score(name_score, points)
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
        batch = CandidateBatch.from_arrays(
            rows,
            np.frombuffer(self._name_tokens, dtype=np.int32),
            np.frombuffer(self._token_start, dtype=np.int64),
            self._tokens,
            np.frombuffer(self._token_features, dtype=np.int64).reshape(-1, 6),
            np.frombuffer(self._token_weights, dtype=np.float32),
            self._run_texts,
            np.frombuffer(self._run_start, dtype=np.int64),
        )
        return best_names_in_batch(query_names, batch, counts.tolist())

    def candidate_ids(self, query: PersonQuery) -> list[str]:
        """The ids of the entries a search scores, best blocking evidence first (at most
        ``SCORED_CANDIDATES``). The quality benchmark hands the same entries to other matchers."""
        rows = self._candidate_entries(self.matcher.prepare(query))
        return [entry_id for entry_id in (self._entry_ids[row] for row in rows) if entry_id is not None]

    def _candidate_entries(self, prepared: PreparedPerson) -> list[int]:
        self._flush_pending()
        if len(self._keys) == 0 and len(self._delta_keys) == 0:
            return []
        keys, units, kinds, unit_names, unit_count = self._query_keys(prepared)
        if not keys:
            return []
        key_array = np.array(keys, dtype=np.int64)
        unit_array = np.array(units, dtype=np.int64)
        kind_array = np.array(kinds, dtype=np.int64)
        segments = [(self._keys, self._rows)]
        if len(self._delta_keys):
            segments.append((self._delta_keys, self._delta_rows))
        # One binary search for both ends: a key's postings end where the next key's begin.
        bounds = []
        for segment_keys, _ in segments:
            ends = np.searchsorted(segment_keys, np.concatenate([key_array, key_array + 1]))
            bounds.append((ends[: len(keys)], ends[len(keys) :]))
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
        key_codes = unit_array * _KINDS + (_KINDS - 1 - kind_array)
        gathered: list[Int64Array] = []
        for (low, high), (_, rows) in zip(bounds, segments, strict=True):
            lengths = np.where(rare, high - low, 0)
            total = int(lengths.sum())
            if total:
                positions = np.repeat(low - np.cumsum(lengths) + lengths, lengths) + np.arange(total)
                gathered.append(
                    rows[positions].astype(np.int64) * (unit_count * _KINDS) + np.repeat(key_codes, lengths)
                )
        if gathered:
            codes = np.concatenate(gathered) if len(gathered) > 1 else gathered[0]
            codes.sort()
            pairs = codes // _KINDS
            codes = codes[_first_of_runs(pairs)]
            name_rows = codes // (unit_count * _KINDS)
            hit_units = (codes // _KINDS) % unit_count
            hit_kinds = _KINDS - 1 - codes % _KINDS
            first = _first_of_runs(name_rows)
            candidates = name_rows[first]
            strength = np.zeros((len(candidates), unit_count), dtype=np.float64)
            strength[np.cumsum(first) - 1, hit_units] = KIND_WEIGHTS[hit_kinds]
        else:
            candidates = self._common_intersection(segments, bounds, frequency, unit_array)
            strength = np.zeros((len(candidates), unit_count), dtype=np.float64)
        if len(candidates) == 0:
            return []
        self._confirm_common(candidates, strength, segments, bounds, rare, unit_array, kind_array)
        evidence = strength @ unit_idf
        # A candidate sharing little of the query name's rarity cannot score high on names;
        # skipping it is most of what makes a search cheap. The share is of what the best
        # candidate shares when none shares much: a misspelt part may find nothing at all.
        name_evidence = float(np.bincount(np.array(unit_names, dtype=np.int64), weights=unit_idf).max())
        enough = evidence >= MIN_EVIDENCE_SHARE * min(name_evidence, evidence.max())
        candidates, evidence = candidates[enough], evidence[enough]
        if prepared.birth_date is not None and len(candidates):
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
            key = _key(text)
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
                    add("t" + token.collapsed, unit, EXACT)
                    for symbol in token.symbols:
                        for token_id in self._variant_tokens.get(symbol, ())[:MAX_VARIANT_FORMS]:
                            add("t" + self._tokens[token_id].collapsed, unit, VARIANT)
                    if token.phonetic:
                        add("p" + token.phonetic, unit, SOUND)
                    if len(token.skeleton) >= 3:
                        add("k" + token.skeleton, unit, CONSONANTS)
                    if len(token.skeleton) >= (3 if token.by_consonants else 4):
                        add("l" + token.skeleton, unit, CONSONANTS)
                    if single:
                        for text in _deletions(token.collapsed):
                            add("d" + text, unit, EDITS)
                    for text in _affixes(token.collapsed):
                        add(text, unit, AFFIX)
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

    def _confirm_common(
        self,
        candidates: Int64Array,
        strength: npt.NDArray[np.float64],
        segments: list[tuple[Int64Array, Int32Array]],
        bounds: list[tuple[Int64Array, Int64Array]],
        rare: npt.NDArray[np.bool_],
        units: Int64Array,
        kinds: Int64Array,
    ) -> None:
        """Evidence from common keys, read only for the candidates rarer keys found."""
        for (low, high), (_, rows) in zip(bounds, segments, strict=True):
            for index in np.flatnonzero(~rare).tolist():
                postings = rows[low[index] : high[index]]  # sorted by row within a key
                if len(postings) == 0:
                    continue
                positions = np.searchsorted(postings, candidates)
                found = postings[np.minimum(positions, len(postings) - 1)] == candidates
                column = strength[:, int(units[index])]
                np.maximum(column, found * KIND_WEIGHTS[int(kinds[index])], out=column)

    def _common_intersection(
        self,
        segments: list[tuple[Int64Array, Int32Array]],
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
            parts = [rows[low[index] : high[index]] for (low, high), (_, rows) in zip(bounds, segments, strict=True)]
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
        # Best evidence per entry, then the entries with the most.
        order = np.lexsort((-evidence, entries))
        entries, evidence = entries[order], evidence[order]
        first = np.ones(len(entries), dtype=np.bool_)
        first[1:] = entries[1:] != entries[:-1]
        entries, evidence = entries[first], evidence[first]
        if len(entries) > SCORED_CANDIDATES:
            top = np.argpartition(-evidence, SCORED_CANDIDATES - 1)[:SCORED_CANDIDATES]
            entries, evidence = entries[top], evidence[top]
        ranked = np.argsort(-evidence, kind="stable")
        alive = self._people
        return [row for row in entries[ranked].tolist() if alive[row] is not None]

    # -- accounting ------------------------------------------------------------------------

    def memory_bytes(self) -> int:
        """Estimated bytes held: arrays exactly, tokens and run texts in full, entries from a sample.

        Entries are measured on up to 2,000 random live entries (their prepared names, id
        string and identifiers) and scaled to all of them; the rest (postings and name arrays,
        token vocabulary, run texts, variant lists, the id dictionary, shared dates and
        country sets) in full. Removed entries count until the index is rebuilt. Not counted:
        the name data rigour and ICU load once per process, whatever the index size.
        """
        arrays = sum(part.nbytes for part in (self._keys, self._rows, self._delta_keys, self._delta_rows))
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
                self._pending_keys,
                self._pending_rows,
            )
        )
        containers = sum(
            sys.getsizeof(part) for part in (self._entry_ids, self._people, self._row_of, self._run_texts, self._tokens)
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
