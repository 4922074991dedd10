"""``oasst``: OpenAssistant message trees -> conversations and K-way ranked comparisons.

Three serialisations are read (../shared/data/FORMATS.md §2), in any mix within one stream:

- the *tree* export, one tree per line: ``{"message_tree_id", "tree_state", "prompt": <message>}``
  where each message nests its ``replies``;
- the nested *message* export: the root message itself is the line (``parent_id`` null);
- the *flat* export, one message per row with ``parent_id`` and no ``replies`` (as on the
  Hugging Face hub). Flat rows (and nested lines whose ``parent_id`` is set) are collected
  and the trees are rebuilt when the stream ends, which is why this format overrides
  :meth:`Format.read`. A message whose parent never appears is rejected
  (``parent message '<id>' is not in the input``).

A missing key and a ``null`` value mean the same everywhere (the tree export omits nulls, the
message export writes them). Roles: ``prompter`` -> user, ``assistant`` -> assistant (others
follow the shared ``unknown_role`` policy; a dropped message takes its replies with it). Text
is kept as is, empty text included.

What ``read`` yields is chosen by options (``opts.get``):

- ``oasst_yield``: ``"both"`` (default) | ``"conversations"`` | ``"comparisons"``. Per tree, the
  conversations come first, then the comparisons, each in depth-first order.
- ``oasst_paths``: ``"all"`` (default): one Conversation for every path from the root to an
  assistant message (so a tree with 7 assistant messages gives 7, prefixes included);
  ``"top"``: only the top-ranked paths: at each assistant step the path follows the reply with
  rank 0 (or the only assistant reply); prompter replies carry no rank, so every prompter
  branch is followed; a Conversation is yielded where such a path cannot be continued.
- ``oasst_deleted``: ``"keep"`` (default: every message is kept; ``deleted`` and
  ``review_result`` stay in the per-message metadata so they can be filtered later) |
  ``"skip"``: a message with ``deleted: true`` or ``review_result: false`` is left out with
  all its replies (a sub-message cannot be rejected on its own without breaking its tree).

A Comparison is made for each message with at least two assistant replies of which at least
one has a ``rank``: context = the path from the root up to and including that message,
candidates = the assistant replies in source order (``model`` = ``model_name``), ranking = their
``rank`` (0 = best; unranked siblings stay ``None``).

Ids: a Conversation's id is the message_id of its last message, a Comparison's the message_id of
the parent. ``metadata`` holds ``message_tree_id`` (the root's message_id when the line has
none), the tree line's other keys (``tree_state``), the root's ``lang``, and ``messages``: for
each context/conversation message every source key except ``text``/``role``/``replies`` with nulls
left out; a Comparison also has ``candidates``, the same for each candidate.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

from dialogkit.errors import RecordError, UsageError
from dialogkit.formats._common import expect_object, resolve_role
from dialogkit.formats._common import field as get_field
from dialogkit.io import Row
from dialogkit.models import Comparison, Conversation, Source
from dialogkit.registry import Format, Options, Reject, build, register

_ROLES = {"prompter": "user", "assistant": "assistant"}
_SKIP_META = frozenset({"text", "role", "replies"})
_CHOICES = {
    "oasst_yield": ("both", "conversations", "comparisons"),
    "oasst_paths": ("all", "top"),
    "oasst_deleted": ("keep", "skip"),
}


@dataclass
class _Node:
    """One validated message of a tree."""

    id: str
    role: str
    text: str
    rank: int | None
    meta: dict[str, Any]
    children: list[_Node] = field(default_factory=list)
    row: Row | None = None


def option(opts: Options, name: str) -> str:
    """A validated oasst option (the first choice is the default)."""
    value = opts.get(name, _CHOICES[name][0])
    if value not in _CHOICES[name]:
        raise UsageError(f"{name} must be one of {', '.join(_CHOICES[name])}, got {value!r}")
    return str(value)


def _message(data: Any, loc: str, opts: Options) -> tuple[_Node | None, str | None, list[Any]]:
    """A message's node (None when skipped), its parent id, and its raw replies (unchecked)."""
    msg = expect_object(data, loc)
    mid = get_field(msg, "message_id", str, loc)
    text = get_field(msg, "text", str, loc)
    parent = get_field(msg, "parent_id", str, loc, required=False)
    rank = get_field(msg, "rank", int, loc, required=False)
    if rank is not None and rank < 0:
        raise RecordError(f"Expected a rank >= 0 (0 = best), got {rank}", loc=f"{loc}.rank",
                          rule="negative rank")
    replies = get_field(msg, "replies", list, loc, required=False) or []
    role = resolve_role(msg.get("role"), _ROLES, opts, f"{loc}.role")
    skip = role is None or (
        option(opts, "oasst_deleted") == "skip"
        and (msg.get("deleted") is True or msg.get("review_result") is False)
    )
    if skip:
        return None, parent, []
    meta = {k: v for k, v in msg.items() if k not in _SKIP_META and v is not None}
    return _Node(mid, role or "", text, rank, meta), parent, replies


def _tree(data: Any, loc: str, opts: Options) -> _Node | None:
    """A nested message with all its replies, validated."""
    node, _, replies = _message(data, loc, opts)
    if node is None:
        return None
    for i, reply in enumerate(replies):
        child = _tree(reply, f"{loc}.replies[{i}]", opts)
        if child is not None:
            node.children.append(child)
    return node


def _flatten(data: Any, loc: str, opts: Options, row: Row, out: list[tuple[_Node, str | None]]
             ) -> None:
    """A message and its nested replies as (node, parent id) items for rebuilding later."""
    node, parent, replies = _message(data, loc, opts)
    if node is None:
        return
    node.row = row
    out.append((node, parent))
    for i, reply in enumerate(replies):
        child_loc = f"{loc}.replies[{i}]"
        reply_obj = expect_object(reply, child_loc)
        if reply_obj.get("parent_id") is None:  # nested replies may leave their parent implied
            reply_obj = {**reply_obj, "parent_id": node.id}
        _flatten(reply_obj, child_loc, opts, row, out)


class OASST(Format):
    """OpenAssistant tree, nested-message and flat exports -> Conversations and Comparisons.

    Options: ``oasst_yield``, ``oasst_paths``, ``oasst_deleted`` (see the module docstring).
    """

    name = "oasst"
    aliases = ("openassistant", "oasst1", "oasst2")
    description = "OpenAssistant message trees (tree, nested message or flat export)"
    reads = ("conversation", "comparison")
    writes = ()

    def detect(self, row: Any) -> int:
        if not isinstance(row, dict):
            return 0
        if "message_tree_id" in row and isinstance(row.get("prompt"), dict):
            return 20
        if (isinstance(row.get("message_id"), str) and isinstance(row.get("text"), str)
                and row.get("role") in _ROLES):
            return 20
        return 0

    def read(self, rows: Iterable[Row | RecordError], opts: Options) -> Iterator[Any]:
        for name in _CHOICES:
            option(opts, name)
        pool: list[tuple[_Node, str | None]] = []
        for row in rows:
            if isinstance(row, RecordError):
                yield Reject(row.at(format=self.name))
                continue
            try:
                data = expect_object(row.data)
                if "message_tree_id" in data and "prompt" in data:
                    root = _tree(get_field(data, "prompt", dict), "$.prompt", opts)
                    tree_meta = {k: v for k, v in data.items() if k != "prompt" and v is not None}
                elif data.get("parent_id") is None and isinstance(data.get("replies"), list):
                    root, tree_meta = _tree(data, "$", opts), {}
                else:
                    items: list[tuple[_Node, str | None]] = []
                    _flatten(data, "$", opts, row, items)
                    pool.extend(items)
                    continue
                records = self._emit(root, tree_meta, row, opts) if root is not None else []
            except RecordError as exc:
                yield Reject(exc.at(source=row.source, line=row.line, format=self.name), row=row)
                continue
            yield from records
        yield from self._rebuild(pool, opts)

    def _rebuild(self, pool: list[tuple[_Node, str | None]], opts: Options) -> Iterator[Any]:
        """Trees from flat messages: children in input order, roots in input order."""
        by_id = {node.id: node for node, _ in pool}
        roots: list[_Node] = []
        for node, parent in pool:
            if parent is None:
                roots.append(node)
            elif parent in by_id:
                by_id[parent].children.append(node)
            else:
                row = node.row
                assert row is not None
                err = RecordError(f"parent message {parent!r} is not in the input",
                                  loc="$.parent_id", rule="orphan message")
                yield Reject(err.at(source=row.source, line=row.line, format=self.name), row=row)
        for root in roots:
            tree_id = root.meta.get("message_tree_id")
            meta = {"message_tree_id": tree_id} if tree_id is not None else {}
            row = root.row
            assert row is not None
            try:
                records = self._emit(root, meta, row, opts)
            except RecordError as exc:
                yield Reject(exc.at(source=row.source, line=row.line, format=self.name), row=row)
                continue
            yield from records

    def _emit(self, root: _Node, tree_meta: dict[str, Any], row: Row, opts: Options
              ) -> list[Any]:
        """The records of one tree, each stamped with where it came from (all or an error)."""
        base = {"message_tree_id": tree_meta.get("message_tree_id", root.id)}
        base.update({k: v for k, v in tree_meta.items() if k != "message_tree_id"})
        if "lang" in root.meta:
            base["lang"] = root.meta["lang"]
        what = option(opts, "oasst_yield")
        records: list[tuple[Any, _Node]] = []
        if what in ("both", "conversations"):
            walk = _all_paths if option(opts, "oasst_paths") == "all" else _top_paths
            for path in walk(root, []):
                records.append((self._conversation(path, base), path[-1]))
        if what in ("both", "comparisons"):
            for path in _groups(root, []):
                records.append((self._comparison(path, base), path[-1]))
        for rec, node in records:
            src = node.row or row
            rec.source = Source.model_construct(file=src.source, line=src.line, format=self.name)
        return [rec for rec, _ in records]

    @staticmethod
    def _conversation(path: list[_Node], base: dict[str, Any]) -> Conversation:
        return build(Conversation, {
            "id": path[-1].id,
            "messages": [{"role": n.role, "content": n.text} for n in path],
            "metadata": {**base, "messages": [n.meta for n in path]},
        })

    @staticmethod
    def _comparison(path: list[_Node], base: dict[str, Any]) -> Comparison:
        parent = path[-1]
        cands = [c for c in parent.children if c.role == "assistant"]
        return build(Comparison, {
            "id": parent.id,
            "context": [{"role": n.role, "content": n.text} for n in path],
            "candidates": [
                {"messages": [{"role": "assistant", "content": c.text}],
                 "model": c.meta.get("model_name")}
                for c in cands
            ],
            "ranking": [c.rank for c in cands],
            "metadata": {**base, "messages": [n.meta for n in path],
                         "candidates": [c.meta for c in cands]},
        })


def _all_paths(node: _Node, prefix: list[_Node]) -> Iterator[list[_Node]]:
    """Every path from the root to an assistant message, depth first."""
    path = [*prefix, node]
    if node.role == "assistant":
        yield path
    for child in node.children:
        yield from _all_paths(child, path)


def _is_top(node: _Node, siblings: list[_Node]) -> bool:
    assistants = [s for s in siblings if s.role == "assistant"]
    return node.rank == 0 or (len(assistants) == 1 and assistants[0] is node)


def _top_paths(node: _Node, prefix: list[_Node]) -> Iterator[list[_Node]]:
    """Maximal paths that follow rank 0 (or the only reply) at every assistant step."""
    path = [*prefix, node]
    found = False
    for child in node.children:
        if child.role == "assistant" and not _is_top(child, node.children):
            continue
        for sub in _top_paths(child, path):
            found = True
            yield sub
    if not found and node.role == "assistant":
        yield path


def _groups(node: _Node, prefix: list[_Node]) -> Iterator[list[_Node]]:
    """Paths to every message whose assistant replies (two or more) carry at least one rank."""
    path = [*prefix, node]
    cands = [c for c in node.children if c.role == "assistant"]
    if len(cands) >= 2 and any(c.rank is not None for c in cands):
        yield path
    for child in node.children:
        yield from _groups(child, path)


FORMAT = register(OASST())
