"""``onward verify-log``: recompute the access log's hash chain and check its checkpoints.

What it finds (each named by the first event or position where it shows):

* an event changed after sealing — its recomputed seal differs from the stored one;
* an event deleted — a seal points at an event that is not there;
* events reordered, or a seal row removed — the positions or the chain order break;
* an event slipped in behind the sealed end — unsealed, yet below the last sealed event;
* seals rewritten to match a forgery — the signed checkpoints no longer match the chain,
  or no longer verify with the service's keys (a database owner cannot sign);
* checkpoints deleted to hide that — caught by checkpoints kept outside the database,
  passed with ``--checkpoint`` (see docs/security.md: publish them where the database
  owner cannot reach).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Protocol

from sqlalchemy.ext.asyncio import AsyncSession

from app.audit import repository
from app.audit.seal import CHECKPOINT_TYPE, GENESIS, event_of, next_seal

BATCH = 10_000


class CheckpointVerifier(Protocol):
    def verify_document(self, compact: str, *, typ: str) -> dict[str, Any]: ...


@dataclass
class Report:
    sealed: int = 0
    checkpoints: int = 0
    problems: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems


async def verify_log(
    session: AsyncSession, verifier: CheckpointVerifier, external: list[str] | None = None
) -> Report:
    """Recompute the chain from the start and check every checkpoint against it."""
    report = Report()
    chain_at: dict[int, str] = {}
    previous, position, last_key = GENESIS, 0, (-1, -1)
    wanted: set[int] = set()
    checkpoints = await repository.checkpoints(session)
    wanted.update(c.position for c in checkpoints)
    external_payloads: list[dict[str, Any]] = []
    for compact in external or []:
        try:
            external_payloads.append(verifier.verify_document(compact, typ=CHECKPOINT_TYPE))
        except Exception:  # any failure of any kind means "does not verify"
            report.problems.append("an external checkpoint does not verify with the keys")
    wanted.update(int(p.get("position", 0)) for p in external_payloads)
    while True:
        rows = await repository.seals_after(session, after=position, limit=BATCH)
        if not rows:
            break
        for row in rows:
            if row.position != position + 1:
                report.problems.append(
                    f"seal positions {position + 1}–{row.position - 1} are missing "
                    f"(before event seq {row.event_seq})"
                )
                return report
            position = row.position
            if row.seq is None:
                report.problems.append(
                    f"event seq {row.event_seq} (position {position}) is missing: "
                    "a sealed event was deleted"
                )
                return report
            key = (row.event_txid, row.event_seq)
            if key <= last_key or row.txid != row.event_txid:
                report.problems.append(
                    f"event seq {row.event_seq} (position {position}) is out of order"
                )
                return report
            last_key = key
            previous = next_seal(previous, event_of(row))
            if previous != row.seal:
                report.problems.append(
                    f"event seq {row.event_seq} (id {row.id}, position {position}) does not "
                    "match its seal: it was changed after sealing"
                )
                return report
            if position in wanted:
                chain_at[position] = previous
        report.sealed = position
    if report.sealed:
        behind = await repository.first_unsealed_behind(session, txid=last_key[0], seq=last_key[1])
        if behind is not None:
            report.problems.append(
                f"event seq {behind.seq} (id {behind.id}) is not sealed but lies before the "
                "sealed end: it was inserted afterwards"
            )
            return report
    for checkpoint in checkpoints:
        try:
            payload = verifier.verify_document(checkpoint.signed, typ=CHECKPOINT_TYPE)
        except Exception:  # any failure of any kind means "does not verify"
            report.problems.append(
                f"the checkpoint at position {checkpoint.position} does not verify"
            )
            return report
        if (
            payload.get("position") != checkpoint.position
            or payload.get("seal") != checkpoint.seal
            or chain_at.get(checkpoint.position) != checkpoint.seal
        ):
            report.problems.append(
                f"the checkpoint at position {checkpoint.position} does not match the chain"
            )
            return report
        report.checkpoints += 1
    for payload in external_payloads:
        at = int(payload.get("position", 0))
        if chain_at.get(at) != payload.get("seal"):
            report.problems.append(
                f"the external checkpoint at position {at} does not match the chain"
            )
            return report
    return report
