"""What the snapshot's customer ids look like, and the near miss of a zero-padded id.

Customer ids are text: CDNOW's are zero-padded digits (``"00002"``). A CRM that stores them
as numbers sends ``2``, which the service reads as ``"2"``, a different id. A bare
"unknown customer" does not tell the integrator why; :class:`IdFormat` says what the ids
look like and finds the id that differs only by leading zeros, for ``/score``'s hint and
``/rank``'s suppression lists.
"""

from __future__ import annotations

from collections.abc import Container, Iterable
from dataclasses import dataclass


@dataclass(frozen=True)
class IdFormat:
    """A summary of a snapshot's ids, computed once at start-up."""

    #: The smallest id, as an example of the format.
    example: str
    #: Lengths of the all-digit ids that start with a zero (the padded widths).
    padded_widths: tuple[int, ...]
    #: Whether every id is made of digits only.
    all_digits: bool

    @classmethod
    def of(cls, ids: Iterable[str]) -> IdFormat:
        example: str | None = None
        widths: set[int] = set()
        all_digits = True
        for customer_id in ids:
            if example is None or customer_id < example:
                example = customer_id
            if customer_id.isdigit():
                if customer_id.startswith("0") and len(customer_id) > 1:
                    widths.add(len(customer_id))
            else:
                all_digits = False
        return cls(example or "", tuple(sorted(widths)), all_digits and example is not None)

    def describe(self) -> str:
        """One clause for messages: "ids in this snapshot are text like '00001' ..."."""
        text = f"ids in this snapshot are text like {self.example!r}"
        if self.all_digits and len(self.padded_widths) == 1:
            text += f" ({self.padded_widths[0]} digits, zero-padded)"
        return text

    def near_match(self, customer_id: str, known: Container[str]) -> str | None:
        """The known id equal to ``customer_id`` but for leading zeros, if there is one."""
        if not customer_id.isdigit():
            return None
        bare = customer_id.lstrip("0") or "0"
        candidates = [bare.zfill(width) for width in self.padded_widths] + [bare]
        for candidate in candidates:
            if candidate != customer_id and candidate in known:
                return candidate
        return None

    def unknown_hint(self, customer_id: str, known: Container[str]) -> str:
        """The hint for an id not in the snapshot: the format, and the near match if any."""
        hint = self.describe()
        match = self.near_match(customer_id, known)
        if match is not None:
            hint += f"; did you mean {match!r}? (send ids as text, with their leading zeros)"
        return hint
