"""What a HelloRetryRequest changed: the first and second ClientHello compared (RFC 8446 4.1.2).

The second hello must be the first with only these changes: key_share replaced by a share for the
group the HelloRetryRequest selected, early_data removed, the HelloRetryRequest's cookie added,
pre_shared_key updated (ages and binders, incompatible identities dropped), padding resized.
Anything else that changed is listed in `unexpected` (and made a finding by the rule
BEHAV-HRR-CHANGED). JA3/JA4 stay per hello; the connection's fingerprints are the first hello's.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Final

from analyzer import registry
from analyzer.model import Connection
from analyzer.registry.codes import (
    EXT_COOKIE,
    EXT_EARLY_DATA,
    EXT_KEY_SHARE,
    EXT_KEY_SHARE_RESERVED,
    EXT_PADDING,
    EXT_PRE_SHARED_KEY,
)
from analyzer.tls.extensions import Extension

MAY_CHANGE: Final = frozenset({EXT_KEY_SHARE, EXT_KEY_SHARE_RESERVED, EXT_EARLY_DATA, EXT_COOKIE, EXT_PRE_SHARED_KEY,
                               EXT_PADDING})
GREASE: Final = -1  # GREASE extension types compared as one kind: a client may pick new values


@dataclass(frozen=True, slots=True)
class Retry:
    """The difference between ClientHello 1 and 2 around a HelloRetryRequest."""

    frame: int  # the second ClientHello's
    selected_group: int | None
    key_share_before: list[int]
    key_share_after: list[int]
    cookie: bool  # the HelloRetryRequest sent one
    cookie_echoed: bool  # the second hello carries it
    early_data_removed: bool
    psk: str  # "none", "updated" (binders recomputed), "unchanged", "removed", "added"
    added: list[int]
    removed: list[int]
    changed: list[int]
    unexpected: list[str]

    def to_json(self) -> dict[str, Any]:
        def names(types: list[int]) -> list[str]:
            return ["GREASE" if t == GREASE else registry.extension_name(t) for t in types]

        return {"frame": self.frame, "selected_group": self.selected_group,
                "key_share": {"before": self.key_share_before, "after": self.key_share_after},
                "cookie": self.cookie, "cookie_echoed": self.cookie_echoed,
                "early_data_removed": self.early_data_removed, "psk": self.psk,
                "extensions_added": names(self.added), "extensions_removed": names(self.removed),
                "extensions_changed": names(self.changed), "unexpected": self.unexpected}

    def summary(self) -> str:
        """One line for the ladder's second ClientHello."""
        parts = [f"key_share {_groups(self.key_share_before)} -> {_groups(self.key_share_after)}"]
        if self.cookie_echoed:
            parts.append("cookie echoed")
        if self.early_data_removed:
            parts.append("early_data removed")
        if self.psk not in ("none", "unchanged"):
            parts.append(f"PSK {self.psk}")
        if self.unexpected:
            parts.append("UNEXPECTED: " + "; ".join(self.unexpected))
        return "retry: " + ", ".join(parts)


def _groups(groups: list[int]) -> str:
    return ",".join(registry.group_name(g) for g in groups) or "none"


def _by_type(exts: list[Extension] | None) -> dict[int, Extension]:
    return {GREASE if registry.is_grease(e.type) else e.type: e for e in exts or ()}


def _same(a: Extension, b: Extension) -> bool:
    return a.length == b.length and a.fields == b.fields


def _shares(exts: dict[int, Extension]) -> list[int]:
    ks = exts.get(EXT_KEY_SHARE) or exts.get(EXT_KEY_SHARE_RESERVED)
    return list(ks.fields.get("groups", [])) if ks is not None else []


def explain_retry(conn: Connection) -> Retry | None:
    """The retry of a connection with a HelloRetryRequest and two ClientHellos; None otherwise."""
    if not conn.hello_retry_request or len(conn.client_hellos) < 2:
        return None
    first, second = conn.client_hellos[0].body, conn.client_hellos[1].body
    hrr = next(m.body for m in conn.server_hellos if m.body.hello_retry_request)
    one, two = _by_type(first.extensions), _by_type(second.extensions)
    added = [t for t in two if t not in one]
    removed = [t for t in one if t not in two]
    changed = [t for t in one if t in two and not _same(one[t], two[t])]
    unexpected = [f"{registry.extension_name(t)} added" for t in added if t not in MAY_CHANGE]
    unexpected += [f"{registry.extension_name(t)} removed" for t in removed if t not in MAY_CHANGE]
    unexpected += [f"{'GREASE' if t == GREASE else registry.extension_name(t)} changed" for t in changed
                   if t not in MAY_CHANGE and t != GREASE]
    if second.random != first.random:
        unexpected.append("random changed")
    if second.session_id != first.session_id:
        unexpected.append("legacy_session_id changed")
    if second.cipher_suites != first.cipher_suites:
        unexpected.append("cipher_suites changed")
    if second.legacy_version != first.legacy_version or second.compression_methods != first.compression_methods:
        unexpected.append("legacy_version or compression_methods changed")
    if EXT_EARLY_DATA in two:
        unexpected.append("early_data still offered after a HelloRetryRequest")
    selected = conn.hrr_group
    after = _shares(two)
    if selected is not None and after != [selected]:
        unexpected.append(f"key_share after the retry is {_groups(after)}, not the selected {_groups([selected])}")
    cookie = hrr.ext(EXT_COOKIE)
    echoed = two.get(EXT_COOKIE)
    if cookie is not None and (echoed is None or echoed.fields != cookie.fields):
        unexpected.append("the HelloRetryRequest's cookie was not echoed")
    psk = "none"
    if EXT_PRE_SHARED_KEY in one or EXT_PRE_SHARED_KEY in two:
        psk = ("added" if EXT_PRE_SHARED_KEY not in one else "removed" if EXT_PRE_SHARED_KEY not in two
               else "updated" if EXT_PRE_SHARED_KEY in changed else "unchanged")
    return Retry(conn.client_hellos[1].frame, selected, _shares(one), after, cookie is not None,
                 echoed is not None, EXT_EARLY_DATA in one and EXT_EARLY_DATA not in two, psk, added, removed,
                 changed, unexpected)
