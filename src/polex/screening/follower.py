"""Keeps a process's in-memory screening indexes current with the records that other
processes of the same node change (several API processes over one database).

A process's fingerprint index and person watch list hear, after each commit, of the changes
that process makes (``RecordService.key_listeners`` and ``change_listeners``); another
process's changes reach them through the audit log. Every change to a record is audited in
the change's own transaction, under a tag naming the record kind and the action, and the
log's sequence numbers are gapless and in commit order (``AuditStateRow``): reading the
entries after a cursor never skips a committed change. ``IndexFollower.run_once`` reads the
record-changing entries after its cursor and, for each record they name, makes the indexes
agree with what the store holds now:

- lookup keys: each key of the record is brought to at least as many copies in the index as
  live records are filed under it in the store. Counts, not presence: with one number filed
  under two records, a key present for the first must still be added for the second, or
  this process withdrawing the first would leave the second unfindable;
- persons and notices: the record's current content (None once withdrawn or purged) goes
  through ``records_changed`` as an in-process change does, so the watch list's entries
  for the record become those of that content.

Both are idempotent, so the changes the process made itself, replayed, change nothing. What
is applied is read after the entry was committed: a change committed after that read has a
later entry, applied in turn.

``LogFollower`` is the reading of the log and the counting; ``IndexFollower`` says what a
record entry names and how the records are read. A national node's replica follows its own
entries the same way (``polex.replica.service.ReplicaFollower``).

Removals made by other processes are not applied to the fingerprint index: a key left
behind is a false positive, which the full check rules out by reading the store, and the
next start of the process drops it. (A copy too many is as harmless, which is why the
counts may err upwards but never downwards.)
"""

from __future__ import annotations

import threading
import time
from abc import ABC, abstractmethod
from collections.abc import Collection, Mapping, Sequence
from typing import Any, cast

import orjson
from sqlalchemy import ColumnElement, Table, bindparam, func, select
from sqlalchemy.orm import Session

from polex.audit.repository import AuditRepository
from polex.domain.audit import AuditTag
from polex.record.spec import RecordChangeListener
from polex.screening.index import FingerprintIndex
from polex.screening.persons import WATCHED_KINDS
from polex.storage.tables import AuditEventRow, RecordKeyRow, RecordRow
from polex.storage.unit_of_work import UnitOfWorkFactory

CHUNK = 1_000  # record-changing entries read at a time; the event loop gets the interpreter between chunks
_IDS_PER_STATEMENT = 500

# What each audited action on a record does to what the screening indexes hold of it (its
# lookup keys, and for persons and notices its content). Every ``record:`` tag's action is
# in one of these (tests/unit/screening/test_follower_tags.py), so a new action cannot be
# left out of the follow unnoticed.
CHANGING_ACTIONS = frozenset({"created", "imported", "updated", "deleted", "purged"})
# A notice's lifecycle steps put its record copy in force, write it again or withdraw it
# (``NoticeService._apply_record``); review_requested is the notice clock's step here.
NOTICE_STEPS = frozenset(
    {
        "submitted",
        "issued",
        "approved",
        "refused",
        "returned",
        "suspended",
        "reinstated",
        "cancelled",
        "extended",
        "expired",
        "review_requested",
    }
)
# Accesses, and changes to what the indexes do not hold (deadlines, a notice's files).
KEEPING_ACTIONS = frozenset(
    {
        "read",
        "listed",
        "exported",
        "accesses_viewed",
        "retention_extended",
        "review_requested",
        "file_added",
        "file_read",
        "prechecked",
        "relay_refused",
    }
)


def changes_record(tag: AuditTag) -> bool | None:
    """Whether the audited action changes the records it names as the screening indexes
    see them; None for a tag that is not a record's, or an action left unclassified."""
    source, kind, action = tag.value.split(":", 2)
    if source != "record":
        return None
    if action in CHANGING_ACTIONS or (kind == "notice" and action in NOTICE_STEPS):
        return True
    if action in KEEPING_ACTIONS:
        return False
    return None


RECORD_CHANGES = frozenset(tag for tag in AuditTag if changes_record(tag) is True)
_FOLLOWED_TAGS = sorted(tag.value for tag in RECORD_CHANGES)


class LogFollower(ABC):
    """Applies to ``index`` and ``watchlist`` the changes that audit log entries with one of
    ``tags`` name, after its cursor. ``start_at_log_end`` places the cursor; call it before
    the indexes load from the store, so that a change committed during the load is replayed
    rather than lost. What the entries name, and how the store is read, is a subclass's:
    ``IndexFollower`` for the node's records, ``polex.replica.service.ReplicaFollower`` for
    a national node's replica."""

    def __init__(
        self, uow: UnitOfWorkFactory, index: FingerprintIndex, watchlist: RecordChangeListener, tags: Sequence[str]
    ) -> None:
        self._uow = uow
        self._index = index
        self._watchlist = watchlist
        self._tags = sorted(tags)
        events = cast(Table, AuditEventRow.__table__)
        # Built once: a round runs it whenever the log grew, several times a second on a busy node.
        self._followed_entries = (
            select(events.c.seq, events.c.tag, events.c.entry)
            .where(events.c.seq >= bindparam("start"), events.c.seq < bindparam("end"), events.c.tag.in_(self._tags))
            .order_by(events.c.seq)
            .limit(CHUNK)
        )
        self._lock = threading.Lock()  # one round at a time
        self._cursor: int | None = None
        # Keys examined in the last round, examined once more in the next: an in-process
        # change committed just before the round read the store may have told the index
        # only after the round read its counts (``_add_missing``).
        self._recheck: set[str] = set()

    @property
    def position(self) -> int | None:
        """The sequence number of the next log entry to follow (None before the start)."""
        return self._cursor

    def start_at_log_end(self) -> int:
        """Follow from the log's current end: what is committed by now, the indexes' load
        reads from the store."""
        with self._lock:
            self._cursor = self._log_size()
            return self._cursor

    def run_once(self) -> int:
        """Apply the changes logged since the last round; returns how many records they
        named. A round that finds the log unchanged costs one primary-key read."""
        with self._lock:
            size = self._log_size()
            if self._cursor is None:  # not started before the load: follow from now on
                self._cursor = size
            if self._recheck:
                with self._uow(read_only=True) as uow:
                    filed = self._key_counts(uow.session, self._recheck)
                self._add_missing(filed)
                self._recheck = set()
            followed = 0
            while self._cursor < size:
                changed, reload, after = self._changes(self._cursor, size)
                if reload:
                    # What the store holds now includes every change logged before; those
                    # of this chunk are applied again, harmlessly.
                    self._reload()
                self._recheck |= self._apply(changed)
                followed += sum(len(records) for records in changed.values())
                self._cursor = after
                time.sleep(0)  # let the event loop in between chunks
            return followed

    def _log_size(self) -> int:
        with self._uow(read_only=True) as uow:
            return AuditRepository(uow.session).size()

    def _changes(self, start: int, end: int) -> tuple[dict[str, dict[str, None]], bool, int]:
        """The records the followed entries from ``start`` changed, grouped (in order, once
        each), at most ``CHUNK`` entries and none from ``end``; whether one of the entries
        asks for a reload; and where the next read starts. Entries are read as stored
        (orjson), without building an event model each: the log wrote them from validated
        events."""
        with self._uow(read_only=True) as uow:
            rows = uow.session.connection().execute(self._followed_entries, {"start": start, "end": end}).all()
        changed: dict[str, dict[str, None]] = {}
        reload = False
        for _, tag, entry in rows:
            group = self._group(tag)
            if group is None:
                reload = True
            else:
                changed.setdefault(group, {}).update(dict.fromkeys(orjson.loads(entry)["record_ids"]))
        return changed, reload, (int(rows[-1].seq) + 1 if len(rows) == CHUNK else end)

    def _apply(self, changed: Mapping[str, Mapping[str, None]]) -> set[str]:
        """Bring the indexes in line with the store for these records; returns the lookup
        keys examined."""
        ids = [record_id for records in changed.values() for record_id in records]
        with self._uow(read_only=True) as uow:
            filed = self._filed_counts(uow.session, ids) if ids else {}
            contents = self._contents(uow.session, changed)
        self._add_missing(filed)
        for kind, records in contents.items():
            if records:
                self._watchlist.records_changed(kind, records)
        return set(filed)

    def _add_missing(self, filed: Mapping[str, int]) -> None:
        """Add the copies of each key the index lacks to count as many as the store files.
        The index is read after the store, and an in-process change tells it after its
        commit: a key such a change added in between may get a copy too many (harmless), and
        one it removed is examined again the next round (``_recheck``)."""
        keys = list(filed)
        missing: list[str] = []
        for key, held in zip(keys, self._index.counts(keys), strict=True):
            missing.extend([key] * (filed[key] - held))
        if missing:
            self._index.keys_changed(missing, ())

    # -- what a subclass says ------------------------------------------------------------

    @abstractmethod
    def _group(self, tag: str) -> str | None:
        """The group (a record kind) whose records an entry with this tag names; None for
        an entry after which the indexes load again from the store."""
        raise NotImplementedError

    @abstractmethod
    def _filed_counts(self, session: Session, record_ids: Sequence[str]) -> dict[str, int]:
        """Each index key of these records, with how many live records the store files under it."""
        raise NotImplementedError

    @abstractmethod
    def _key_counts(self, session: Session, keys: Collection[str]) -> dict[str, int]:
        """How many live records the store files under each of ``keys`` (0 for those no longer filed)."""
        raise NotImplementedError

    @abstractmethod
    def _contents(
        self, session: Session, changed: Mapping[str, Mapping[str, None]]
    ) -> dict[str, dict[str, Mapping[str, Any] | None]]:
        """For the watch list, by record kind: each changed record's current content, None
        for one withdrawn or gone."""
        raise NotImplementedError

    def _reload(self) -> None:
        """Load the indexes again from the store (for a follower whose ``_group`` can say None)."""
        raise NotImplementedError(f"{type(self).__name__} follows no entry that asks for a reload")


class IndexFollower(LogFollower):
    """Follows the node's own records: the ``record:`` entries that change them."""

    def __init__(self, uow: UnitOfWorkFactory, index: FingerprintIndex, watchlist: RecordChangeListener) -> None:
        super().__init__(uow, index, watchlist, _FOLLOWED_TAGS)

    def _group(self, tag: str) -> str:
        return tag.split(":", 2)[1]

    def _filed_counts(self, session: Session, record_ids: Sequence[str]) -> dict[str, int]:
        return _filed_counts(session, record_ids)

    def _key_counts(self, session: Session, keys: Collection[str]) -> dict[str, int]:
        return _key_counts(session, keys)

    def _contents(
        self, session: Session, changed: Mapping[str, Mapping[str, None]]
    ) -> dict[str, dict[str, Mapping[str, Any] | None]]:
        watched = [record_id for kind in WATCHED_KINDS for record_id in changed.get(kind, {})]
        live = _live_contents(session, watched)
        return {
            kind: {record_id: live.get(record_id) for record_id in changed[kind]}
            for kind in WATCHED_KINDS
            if changed.get(kind)
        }


def _filed_counts(session: Session, record_ids: Sequence[str]) -> dict[str, int]:
    """Each lookup key of these records, with how many live records are filed under it."""
    filed: dict[str, int] = {}
    for start in range(0, len(record_ids), _IDS_PER_STATEMENT):
        theirs = select(RecordKeyRow.key).where(
            RecordKeyRow.record_id.in_(record_ids[start : start + _IDS_PER_STATEMENT])
        )
        filed.update(_count_by_key(session, RecordKeyRow.key.in_(theirs)))
        time.sleep(0)  # an import's entry names a thousand records: let the event loop in
    return filed


def _key_counts(session: Session, keys: Collection[str]) -> dict[str, int]:
    """How many live records are filed under each of ``keys`` (0 for those no longer filed)."""
    filed = dict.fromkeys(keys, 0)
    wanted = sorted(filed)
    for start in range(0, len(wanted), _IDS_PER_STATEMENT):
        filed.update(_count_by_key(session, RecordKeyRow.key.in_(wanted[start : start + _IDS_PER_STATEMENT])))
    return filed


def _count_by_key(session: Session, where: ColumnElement[bool]) -> dict[str, int]:
    rows = session.execute(
        select(RecordKeyRow.key, func.count(RecordKeyRow.record_id)).where(where).group_by(RecordKeyRow.key)
    ).all()
    return {str(key): int(count) for key, count in rows}


def _live_contents(session: Session, record_ids: Sequence[str]) -> dict[str, Mapping[str, Any]]:
    """The content of each of these records that is live (withdrawn, purged and unknown
    ones are left out: the watch list drops their entries)."""
    contents: dict[str, Mapping[str, Any]] = {}
    for start in range(0, len(record_ids), _IDS_PER_STATEMENT):
        rows = session.execute(
            select(RecordRow.id, RecordRow.content).where(
                RecordRow.id.in_(record_ids[start : start + _IDS_PER_STATEMENT]), RecordRow.deleted_at.is_(None)
            )
        ).all()
        contents.update({str(record_id): content for record_id, content in rows})
    return contents
