"""``oasst``: OpenAssistant message trees <-> conversations and K-way ranked comparisons.

Reading
-------
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
left out; a Comparison also has ``candidates``, the same for each candidate. Flat and
message-export rows repeat the tree-level keys ``message_tree_id`` and ``tree_state`` on each
message: they are read as the root's (into ``metadata``) and left out of a message's own dict
where it repeats the root's value, so the three exports of one tree read to the same records.

Writing
-------
The writer writes the *flat* export, one JSON object per message, and each message ONCE per
run: records that share a path prefix (every conversation of a tree, and its comparisons)
share messages, so the writer keeps the ids it has written in ``WriteContext.state`` (it is
:attr:`~dialogkit.registry.Format.stateful`; ``convert`` never splits it across processes) and
returns a :class:`~dialogkit.registry.Rows` list per record: the rows of its messages not
written before, in path order, then a comparison's candidates; a record whose messages were
all written gives no row (it still counts as written).

Every row has the 18 keys of the official flat export, in its order: ``message_id``,
``parent_id`` (null at the root), ``user_id``, ``created_date``, ``text``, ``role``
(``prompter``/``assistant``), ``lang``, ``review_count``, ``review_result``, ``deleted``,
``rank``, ``synthetic``, ``model_name``, ``detoxify``, ``message_tree_id``, ``tree_state``,
``emojis``, ``labels``; a key the record has no value for is written as ``null`` (a fixed
schema for Parquet and the hub, and null reads as missing), and a message's other source keys
follow. ``emojis``/``labels`` are written as they were read (this sample's ``{name: count}``
objects; not converted to the hub's parallel lists).

- A record from this reader (``metadata`` has ``message_tree_id`` and ``messages``) keeps its
  ids and per-message fields: ``message_id``s from ``metadata.messages``/``candidates``,
  ``parent_id`` from the path, ``tree_state`` from ``metadata``; a comparison's ``ranking``
  and candidates' ``model`` win over the per-message ``rank``/``model_name``. If those lists
  do not match the messages one to one (the record was changed after reading), it is a
  RecordError (rule ``oasst metadata``). So ``read -> write -> read`` gives the same records
  (only ``source`` differs); but prompter messages that no assistant message follows are in
  no record, so they are not written (226 of the sample's 1,167 messages).
- Any other record gets content ids: a message's id is :func:`~dialogkit.ops.ids.content_id`
  of the conversation of its path (``{"messages": [{role, content}, ...]}`` up to it), so equal
  prefixes share messages and one tree grows per first message; ``message_tree_id`` is the
  root's id. A Comparison writes its context path and then its candidates as sibling assistant
  replies of the last context message, with ``rank`` from ``ranking`` (null when unranked)
  and ``model_name`` from ``model``. ``lang`` comes from ``metadata.lang`` when it is a string.
  Demos and trainer dialogues are written as their conversations.
- Only user and assistant turns have a place: a system or tool message, or tool calls, is a
  RecordError; a candidate must be one assistant message. Message ``name``/``weight``/
  ``reasoning``/``tool_call_id``, ``tools``, a comparison's ``labeler`` and candidates'
  ``score``, a record ``id`` other than its leaf's (parent's for a comparison) message id, and
  other ``metadata`` keys have no place and are tallied as dropped (``--strict`` rejects).
- A message is written once, by the first record that holds it. A later record that gives
  the same id another parent, role, text or tree is a RecordError (rule ``message
  conflict``; a rejected record leaves the written ids unchanged); one that gives it other
  fields (a ``rank`` from a comparison after a conversation wrote the message unranked, a
  ``lang`` from its own metadata) keeps the first record's, and each such field is tallied as
  dropped under its name (``--strict`` rejects the record).
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

import orjson

from dialogkit.errors import RecordError, UsageError
from dialogkit.formats._common import expect_object, resolve_role
from dialogkit.formats._common import field as get_field
from dialogkit.io import Row
from dialogkit.models import Comparison, Conversation, Message, Source
from dialogkit.ops.chat import as_conversation
from dialogkit.ops.ids import content_id
from dialogkit.registry import Format, Options, Reject, Rows, WriteContext, build, register

_ROLES = {"prompter": "user", "assistant": "assistant"}
_SKIP_META = frozenset({"text", "role", "replies"})
_TREE_KEYS = ("message_tree_id", "tree_state")
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


def _check_parent(parent: str | None, expected: str | None, loc: str) -> None:
    """A nested reply that names a parent must name the message it is nested in (else the
    tree says one thing and parent_id another, and a written tree would not read back)."""
    if parent is not None and expected is not None and parent != expected:
        raise RecordError(
            f"parent_id {parent!r} is not the message_id of the message this reply is nested "
            f"in ({expected!r})", loc=f"{loc}.parent_id", rule="parent mismatch",
        )


def _tree(data: Any, loc: str, opts: Options, expected: str | None = None) -> _Node | None:
    """A nested message with all its replies, validated."""
    node, parent, replies = _message(data, loc, opts)
    _check_parent(parent, expected, loc)
    if node is None:
        return None
    for i, reply in enumerate(replies):
        child = _tree(reply, f"{loc}.replies[{i}]", opts, node.id)
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
        else:
            _check_parent(reply_obj.get("parent_id"), node.id, child_loc)
        _flatten(reply_obj, child_loc, opts, row, out)


class OASST(Format):
    """OpenAssistant tree, nested-message and flat exports -> Conversations and Comparisons;
    Conversations and Comparisons -> the flat export, each message once per run.

    Reading options: ``oasst_yield``, ``oasst_paths``, ``oasst_deleted`` (see the module
    docstring); the writer has none.
    """

    name = "oasst"
    aliases = ("openassistant", "oasst1", "oasst2")
    description = "OpenAssistant message trees (read: tree, nested or flat export; write: flat)"
    reads = ("conversation", "comparison")
    writes = ("conversation", "comparison", "demo", "trainer_dialogue")
    stateful = True  # each message is written once per run: WriteContext.state

    def detect(self, row: Any) -> int:
        if not isinstance(row, dict):
            return 0
        if "message_tree_id" in row and isinstance(row.get("prompt"), dict):
            return 20
        if (isinstance(row.get("message_id"), str) and isinstance(row.get("text"), str)
                and row.get("role") in _ROLES):
            return 20
        return 0

    def write_record(self, record: Any, ctx: WriteContext) -> Rows:
        if record.kind not in self.writes:
            raise self.cannot_hold(record)
        return _write(self, record, ctx)

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
                    root = _tree(data, "$", opts)
                    tree_meta = _lift(root) if root is not None else {}
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
            meta = _lift(root)
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


def _lift(root: _Node) -> dict[str, Any]:
    """The tree-level keys (``message_tree_id``, ``tree_state``) that flat and message-export
    rows repeat on each message, taken from the root and removed from every message that
    repeats the root's value, so all three exports read to the same records (a message with
    another value keeps its own)."""
    tree = {k: root.meta[k] for k in _TREE_KEYS if k in root.meta}
    if tree:
        stack = [root]
        while stack:
            node = stack.pop()
            for key, value in tree.items():
                if node.meta.get(key) == value:
                    del node.meta[key]
            stack.extend(node.children)
    return tree


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


# ------------------------------------------------------------------------------ writer

# the official flat export's columns, in its order (the OASST1 dataset card on the HF hub)
_FLAT_KEYS = (
    "message_id", "parent_id", "user_id", "created_date", "text", "role", "lang",
    "review_count", "review_result", "deleted", "rank", "synthetic", "model_name", "detoxify",
    "message_tree_id", "tree_state", "emojis", "labels",
)
_OUT_ROLES = {"user": "prompter", "assistant": "assistant"}
_COMPUTED = frozenset({"message_id", "parent_id", "text", "role", "replies"})
_OASST_META = frozenset({"message_tree_id", "tree_state", "lang", "messages", "candidates"})
_DROPPED_MESSAGE_FIELDS = ("name", "weight", "reasoning", "tool_call_id")
_WRITTEN = "oasst.written"  # WriteContext.state key: message id -> _Seen of the row written
_STRUCTURE = ("message_id", "parent_id", "text", "role", "message_tree_id")


@dataclass
class _Seen:
    """A written message: a digest of where it sits and what it says, and its other fields."""

    structure: bytes
    fields: dict[str, Any]


@dataclass
class _Out:
    """One message to write: where it sits in the record, and its tree fields."""

    loc: str
    message: Message
    id: str
    parent: str | None
    meta: dict[str, Any]
    rank: int | None = None
    model: str | None = None


def _oasst_meta(md: dict[str, Any], key: str, n: int) -> list[dict[str, Any]]:
    """The reader's per-message dicts in ``metadata[key]``: one object with a `message_id`
    for each of the ``n`` messages, or a RecordError (the record was changed after reading)."""
    items = md.get(key)
    if not isinstance(items, list) or len(items) != n:
        got = f"{len(items)} entries" if isinstance(items, list) else type(items).__name__
        raise RecordError(
            f"metadata.{key} must hold one object per message ({n}) as the oasst reader "
            f"makes it, got {got}",
            loc=f"$.metadata.{key}", rule="oasst metadata",
        )
    for i, item in enumerate(items):
        if not isinstance(item, dict) or not isinstance(item.get("message_id"), str):
            raise RecordError(
                f"metadata.{key}[{i}] must be an object with a `message_id` string",
                loc=f"$.metadata.{key}[{i}]", rule="oasst metadata",
            )
    return items


def _path_ids(messages: list[Message]) -> list[str]:
    """Content ids of a path: message i's id is the content_id of messages[: i + 1]."""
    prefix: list[dict[str, Any]] = []
    out = []
    for m in messages:
        prefix.append({"role": m.role, "content": m.content})
        out.append(content_id({"messages": prefix}))
    return out


def _check_message(msg: Message, loc: str, fmt: str, ctx: WriteContext) -> None:
    """Only user/assistant text turns have a place in a tree; other message fields are
    tallied as dropped."""
    if msg.role not in _OUT_ROLES:
        raise RecordError(
            f"format {fmt!r} holds only user (prompter) and assistant messages, "
            f"not a {msg.role} message",
            loc=f"{loc}.role", rule="role not writable",
        )
    if msg.tool_calls:
        raise RecordError(f"format {fmt!r} cannot hold tool calls", loc=f"{loc}.tool_calls",
                          rule="tool calls not writable")
    for name in _DROPPED_MESSAGE_FIELDS:
        if getattr(msg, name) is not None:
            ctx.drop(name)


def _row(out: _Out, tree_id: str, tree: dict[str, Any]) -> dict[str, Any]:
    """One flat-export row: every official key (null where unknown), then extra keys."""
    row: dict[str, Any] = dict.fromkeys(_FLAT_KEYS)
    row.update(tree)
    row["message_tree_id"] = tree_id
    for key, value in out.meta.items():  # a message's own keys win over the tree's
        if key not in _COMPUTED:
            row[key] = value
    row["rank"] = out.rank  # a comparison's ranking and candidates' models win over metadata
    row["model_name"] = out.model
    row["message_id"] = out.id
    row["parent_id"] = out.parent
    row["text"] = out.message.content
    row["role"] = _OUT_ROLES[out.message.role]
    return row



def _structure_bytes(parts: list[Any]) -> bytes:
    """Bytes to hash a message's structure by; text orjson refuses (a lone surrogate) still
    hashes, and the sink then rejects the record naming the field."""
    try:
        return orjson.dumps(parts)
    except TypeError:
        from dialogkit.values import json_safe

        return orjson.dumps(json_safe(parts))

def _write(fmt: OASST, record: Any, ctx: WriteContext) -> Rows:
    """The rows of the record's messages not yet written in this run (see the module doc)."""
    name = fmt.name
    if isinstance(record, Comparison):
        path, where, md = record.context, "$.context", record.metadata
        cands = record.candidates
        if record.labeler is not None:
            ctx.drop("labeler")
    else:
        conv = as_conversation(record, ctx, name)
        path, where, md, cands = conv.messages, "$.messages", conv.metadata, []
        if conv.tools is not None:
            ctx.drop("tools")
    for i, msg in enumerate(path):
        _check_message(msg, f"{where}[{i}]", name, ctx)
    for j, cand in enumerate(cands):
        if len(cand.messages) != 1 or cand.messages[0].role != "assistant":
            got = (f"{len(cand.messages)} messages" if len(cand.messages) != 1
                   else f"a {cand.messages[0].role} message")
            raise RecordError(
                f"format {name!r} writes each candidate as one assistant reply; "
                f"candidates[{j}] is {got}",
                loc=f"$.candidates[{j}].messages", rule="candidate not one reply",
            )
        _check_message(cand.messages[0], f"$.candidates[{j}].messages[0]", name, ctx)
        if cand.score is not None:
            ctx.drop("score")
    ranking = record.ranking if isinstance(record, Comparison) else None
    ranks = ranking if ranking is not None else [None] * len(cands)
    if isinstance(record, Comparison) and all(r is None for r in ranks):
        # unranked replies read back as conversations only: the comparison itself is lost
        ctx.drop("comparison (unranked)")

    from_oasst = "message_tree_id" in md and "messages" in md
    if from_oasst:
        tree_id = md["message_tree_id"]
        if not isinstance(tree_id, str):
            raise RecordError(f"metadata.message_tree_id must be a string, got {tree_id!r}",
                              loc="$.metadata.message_tree_id", rule="oasst metadata")
        metas = _oasst_meta(md, "messages", len(path))
        cand_metas = _oasst_meta(md, "candidates", len(cands)) if cands else []
        ids = [m["message_id"] for m in metas]
        cand_ids = [m["message_id"] for m in cand_metas]
        tree = {"tree_state": md["tree_state"]} if md.get("tree_state") is not None else {}
        kept = _OASST_META
    else:
        ids = _path_ids(path)
        cand_ids = [_path_ids([*path, c.messages[0]])[-1] for c in cands]
        tree_id = ids[0]
        metas = [{}] * len(path)
        cand_metas = [{}] * len(cands)
        lang = md.get("lang")
        tree = {"lang": lang} if isinstance(lang, str) else {}
        kept = frozenset({"lang"} if tree else ())
    for key in md:
        if key not in kept:
            ctx.drop(f"metadata.{key}")
    own_id = ids[-1]  # a conversation's leaf, a comparison's parent
    if record.id is not None and record.id != own_id:
        ctx.drop("id")

    outs = [_Out(f"{where}[{i}]", m, ids[i], ids[i - 1] if i else None, metas[i],
                 metas[i].get("rank"), metas[i].get("model_name"))
            for i, m in enumerate(path)]
    outs += [_Out(f"$.candidates[{j}]", c.messages[0], cand_ids[j], own_id, cand_metas[j],
                  ranks[j], c.model)
             for j, c in enumerate(cands)]
    written: dict[str, _Seen] = ctx.state.setdefault(_WRITTEN, {})
    new: dict[str, _Seen] = {}
    lost: list[str] = []
    rows = Rows()
    for out in outs:
        row = _row(out, tree_id, tree)
        seen = _Seen(
            hashlib.blake2b(_structure_bytes([row[k] for k in _STRUCTURE]),
                            digest_size=16).digest(),
            {k: v for k, v in row.items() if k not in _STRUCTURE and v is not None},
        )
        before = new.get(out.id) or written.get(out.id)
        if before is None:
            new[out.id] = seen
            rows.append(row)
        elif before.structure != seen.structure:
            raise RecordError(
                f"message {out.id!r} was written before with another parent, role, text or "
                "tree; a message is written once, so records must agree on it",
                loc=out.loc, rule="message conflict",
            )
        else:  # the first record's fields stand; what this one says otherwise is lost
            lost += [k for k in sorted({*before.fields, *seen.fields})
                     if before.fields.get(k) != seen.fields.get(k)]
    for key in lost:
        ctx.drop(key)
    written.update(new)  # only once the whole record is accepted
    return rows


FORMAT = register(OASST())
