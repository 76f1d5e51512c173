"""The notice types a network knows: the built-in eight, and any a hub adds by
configuration (``notice_types`` in the settings), such as the silver notice."""

from __future__ import annotations

from collections.abc import Iterable, Iterator

from polex.domain.notice import BUILTIN_TYPES, NoticeTypeSpec
from polex.domain.policy import Purpose
from polex.errors import FieldError, ValidationFailed


class NoticeTypes:
    def __init__(self, extra: Iterable[NoticeTypeSpec] = ()) -> None:
        self._types: dict[str, NoticeTypeSpec] = {spec.code: spec for spec in BUILTIN_TYPES}
        for spec in extra:
            if spec.purpose not in Purpose.__members__.values():
                known = ", ".join(purpose.value for purpose in Purpose)
                raise ValueError(f"notice type '{spec.code}': purpose '{spec.purpose}' is not one of {known}")
            self._types[spec.code] = spec  # a configured type may also redefine a built-in one

    def __iter__(self) -> Iterator[NoticeTypeSpec]:
        return iter(self._types.values())

    def __contains__(self, code: object) -> bool:
        return code in self._types

    def get(self, code: str, *, field: str = "notice_type") -> NoticeTypeSpec:
        """The type named ``code``, or a 422 naming the field and the known types."""
        spec = self._types.get(code)
        if spec is None:
            known = ", ".join(self._types)
            raise ValidationFailed(
                f"'{code}' is not a notice type of this network",
                errors=[FieldError(field, f"unknown notice type '{code}'; known: {known}")],
            )
        return spec

    def public(self) -> list[NoticeTypeSpec]:
        """Types that may have a public extract (red and yellow, unless configured otherwise)."""
        return [spec for spec in self._types.values() if spec.public_extract]
