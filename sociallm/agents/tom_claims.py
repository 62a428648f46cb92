"""Claim-level duplicity: did a speaker tell different listeners *conflicting* things about one topic?

Each message becomes a `Claim` sketch: a vector per sentence (topic), its word pieces, and for each
piece how likely it carries content — part of what is claimed (subject, attribute, value) — rather
than surface (greeting, name, filler, hedge). The content weights come from a linear read-out of
MiniLM's contextual token vectors, trained on which pieces of the contrast sets' *train* messages
spell the fact (tom_facts.py; content against surface carries to unseen wording at ~95% recall,
which subject/attribute against value did not: ~55%).

Two messages A and B conflict when they are about one topic and each claims something the other
does not:
- match(t) of a piece t of A: how well some piece of B spells the same word — the cosine of MiniLM's
  *static* (input) piece embeddings, raised to a power so only the same word or a near-spelling
  counts (the static space puts "Monday" near "Friday" and "red" near "blue", 0.5-0.6; those are
  exactly the words that differ between conflicting claims); the pieces of two typed values that
  agree (tom_slots.py: "9:45" / "quarter to ten", "£50" / "fifty quid") match whatever their words,
  and so do two words that WordNet lists as synonyms (tom_lexicon.py: "shut" / "closed", "called off"
  / "cancelled"; co-hyponyms and antonyms such as "red" / "blue" never share a synset);
- coverage(A|B) = content-weighted share of A's pieces matched in B, typed values left out (they
  are what may differ); novelty(A|B) = the largest *value* weight × (1 − match) among A's pieces;
- per pair of sentences (one of A, one of B): when a typed value of each side disagrees with the
  other's and none meets it, the conflict is 1, times gate(coverage the better way: one sentence
  said within the other is about the same thing); when their typed values agree and none
  disagrees, it is 0 (one claim; what else differs is elaboration: "queue it up before dinner!"),
  unless the two say one frame with one slot filled differently ("trench two was a flint scraper" /
  "... a bronze brooch": the agreed value is part of the subject); otherwise min(novelty both ways),
  times gate(min coverage). Times gate(sentence cosine); the largest pair counts: greetings, asides
  and sign-offs are sentences about something else and pair with nothing.
A paraphrase keeps the content words and changes the surface: low novelty. A topic shift changes
most content: low coverage and sentence cosine. A conflict keeps the topic and changes a value on
both sides. An elaboration (one side says more) is novel one way only: the min keeps it out.
The names a message is addressed to and function words are surface, whatever the read-out says.

A speaker's duplicity compares its messages that went to *different audiences* within `window`
rounds of each other (default 0: the same round; what a speaker says may change between rounds):
the mean of its `top` largest conflicts among such pairs. Each message is read twice: with the
learned content weights above, and on plain words (`lexical_claim`: every word outside a list of
function words is content and value, words match when equal or synonyms, the same typed values,
gates and rules). Duplicity is the mean of the two readings' scores. Each fails where the other does
not: the learned weights carry to unseen templates and surface (generated contrast sets: against
paraphrase 1.00 learned, 0.67 plain), but mis-weigh value words of natural chat they never saw
("closed" gets a value weight of 0.01; on the hand-written sets the plain reading does as well or
better); their mean was at least as good as either on the all-unseen generated split and on the
development hand-written set, and lost a little where only names or only topics are unseen (README).
The `ClaimLedger` keeps each speaker's last messages and both readings' top conflicts, updated only
for the speaker of a new message. The same ledger, fed only with the messages one agent observed,
is that agent's own impression of the speaker (tom.py). With an encoder other than MiniLM there is
only the plain reading.

What it cannot see: a consistent liar (one false value told to everyone) conflicts with nothing; a
conflict between a message and what a listener *repeats* of it is not tracked; an untyped value
said in other words that are not synonyms ("taught by" / "covering", "no garage today" / "the car
park will be closed") still looks like a conflict, and an untyped conflict told in wholly
different words can look like a paraphrase (README figures on hand-written text). With an encoder
other than MiniLM there are no token vectors: every word outside a list of function words counts
as content, words match only when equal or synonyms, typed values as above.
"""

from __future__ import annotations

import hashlib
import re
import threading
import zlib
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from sociallm.agents import tensor_state
from sociallm.agents.tom_lexicon import Word, contrast_links, synonym_links, words_of
from sociallm.agents.tom_slots import (
    FUNCTION_WORDS,
    Slot,
    compare_slots,
    piece_offsets,
    slots_of,
    surface_pieces,
    word_spans,
)

# Roles of a word piece in the training labels (0: surface): the claim's subject or attribute, its value.
KEY, VALUE = 1, 2
_WORD = re.compile(r"[a-z0-9]+(?:'[a-z]+)?")


@dataclass
class Claim:
    """What the ledger keeps of one message: its sentences' vectors, its word pieces and their content weights."""

    topic: torch.Tensor  # (k, d) a unit vector per sentence (the lexical fallback: the message's, k = 1)
    ids: torch.Tensor  # (n,) word-piece ids (MiniLM vocabulary) or word crc32s (lexical fallback)
    content: torch.Tensor  # (n,) weight of each piece as content, in [0, 1]
    lexical: bool = False  # ids are word hashes: pieces match only when equal
    sent: torch.Tensor | None = None  # (n,) the sentence of each piece (None: all in sentence 0)
    # (n,) how likely each piece spells the claim's *value* (None: `content`): what may differ in a conflict
    novel: torch.Tensor | None = None
    slots: tuple[Slot, ...] = ()  # typed values (tom_slots.py) and their pieces
    words: tuple[Word, ...] = ()  # words WordNet knows (tom_lexicon.py) and their pieces
    # The same message read on plain words (every non-function word is content; `lexical_claim`): the
    # ledger scores both readings and duplicity is their mean (see the module docstring).
    plain: Claim | None = None
    # The claim as a checkpoint holds it (exact bytes) and its digest, made once: a claim stays in the
    # ledgers for many checkpoints, and every observer's ledger holds the same message's claim.
    saved: tuple[dict[str, Any], str] | None = field(default=None, compare=False, repr=False)

    def encoded(self) -> tuple[dict[str, Any], str]:
        if self.saved is None:
            blob = {
                "topic": tensor_state.encode(self.topic.float()),
                "ids": tensor_state.encode(self.ids),
                "content": tensor_state.encode(self.content.float()),
                "sent": tensor_state.encode(self.sentences()),
                "lexical": self.lexical,
                "novel": tensor_state.encode(self.novelty().float()),
                "slots": [x.encoded() for x in self.slots],
                "words": [w.encoded() for w in self.words],
                "plain": None if self.plain is None else self.plain.encoded()[0],
            }
            raw = "".join(blob[k]["b64"] for k in ("topic", "ids", "content", "sent", "novel"))
            raw += str(self.lexical) + repr(blob["slots"]) + repr(blob["words"])
            raw += "" if self.plain is None else self.plain.encoded()[1]
            self.saved = (blob, hashlib.blake2b(raw.encode("ascii"), digest_size=12).hexdigest())
        return self.saved

    @classmethod
    def decode(cls, blob: dict[str, Any]) -> Claim:
        return cls(
            tensor_state.decode(blob["topic"]),
            tensor_state.decode(blob["ids"], torch.long),
            tensor_state.decode(blob["content"]),
            bool(blob["lexical"]),
            tensor_state.decode(blob["sent"], torch.long),
            tensor_state.decode(blob["novel"]) if "novel" in blob else None,
            tuple(Slot.decode(x) for x in blob.get("slots", ())),
            tuple(Word.decode(x) for x in blob.get("words", ())),
            Claim.decode(blob["plain"]) if blob.get("plain") else None,
        )

    def novelty(self) -> torch.Tensor:
        return self.novel if self.novel is not None else self.content

    def sentences(self) -> torch.Tensor:
        return self.sent if self.sent is not None else torch.zeros(len(self.ids), dtype=torch.long)


class ClaimReader(nn.Module):
    def __init__(
        self,
        d_model: int = 384,
        power: float = 4.0,
        coverage_gate: float = 0.4,
        topic_gate: float = 0.5,
        sharpness: float = 0.05,
        window: int = 0,
    ) -> None:
        super().__init__()
        self.role = nn.Linear(d_model, 3)  # surface / key (subject, attribute) / value, per word piece
        # chosen on the validation split (tom_train.fit_claims); stored in the checkpoint
        self.register_buffer("power", torch.tensor(float(power)))
        self.register_buffer("coverage_gate", torch.tensor(float(coverage_gate)))
        self.register_buffer("topic_gate", torch.tensor(float(topic_gate)))
        self.register_buffer("sharpness", torch.tensor(float(sharpness)))
        # Claims are compared only within `window` rounds of each other: what a speaker says changes
        # over a run (prices move, plans change, a story unfolds), and an update told to Bob in round
        # 4 is not a lie to Carol in round 1.
        self.register_buffer("window", torch.tensor(int(window)))

    @torch.no_grad()
    def read(
        self,
        pooled: torch.Tensor,
        pieces: list[tuple[torch.Tensor, torch.Tensor]] | None,
        texts: list[str],
        addressed: list[Iterable[str]] | None = None,
    ) -> list[Claim]:
        """One Claim per message from its sentence vector and (ids, contextual vectors) of its word pieces;
        `pieces` None (an encoder without token vectors): the lexical fallback on `texts`, where the names
        each message is `addressed` to count as surface (the role read-out learns that by itself)."""
        topic = F.normalize(pooled.float(), dim=-1)
        if pieces is None:
            names = addressed or [()] * len(texts)
            return [lexical_claim(t, x, n) for t, x, n in zip(topic, texts, names, strict=True)]
        out = []
        ends = sentence_ends()
        names = addressed or [()] * len(texts)
        for t, (ids, vecs), text, who in zip(topic, pieces, texts, names, strict=True):
            p = self.role(vecs.float()).softmax(-1)
            offsets = _OFFSETS.get(text) or piece_offsets(text, len(ids))  # pieces not from token_pieces
            aligned = len(offsets) == len(ids)
            keep = (~surface_pieces(text, offsets, who)).float() if aligned else 1.0
            slots = tuple(slots_of(text, offsets)) if aligned else ()
            typed = {k for x in slots for k in x.pieces}
            words = words_of(text, offsets, who, typed) if aligned else ()
            # a mark between digits ("9.45", "£3.50") is part of a number, not a sentence's end
            inside = [text[max(a - 1, 0) : a].isdigit() and text[b : b + 1].isdigit() for a, b in offsets]
            sent = sentence_index(ids, ends, torch.tensor(inside, dtype=torch.bool) if aligned else None)
            k = int(sent.max()) + 1 if len(sent) else 0
            # A sentence's vector: the mean of its pieces' contextual vectors (they saw the whole message).
            tops = (
                torch.stack([F.normalize(vecs[sent == i].float().mean(0), dim=-1) for i in range(k)]) if k else t[None]
            )
            content = (p[:, KEY] + p[:, VALUE]) * keep
            plain = lexical_claim(t, text, who)
            out.append(
                Claim(tops, ids, content, sent=sent, novel=p[:, VALUE] * keep, slots=slots, words=words, plain=plain)
            )
        return out

    @torch.no_grad()
    def conflict(self, a: Claim, b: Claim) -> float:
        """How much a sentence of A and a sentence of B make different claims about one topic, in [0, 1].

        Sentence by sentence: the greetings, asides and sign-offs around a claim are sentences of their
        own, about something else, so they neither pair with the other message's claim nor add novelty to it."""
        s = self.sharpness
        topic = torch.sigmoid((a.topic @ b.topic.T - self.topic_gate) / s)
        if len(a.ids) == 0 or len(b.ids) == 0 or float(topic.max()) < 1e-3:
            return 0.0
        match = piece_match(a, b, float(self.power))
        links = synonym_links(a.words, b.words)
        if links:  # one word in other words: its pieces match
            match = match.clone()
            for pa, pb in links:
                match[torch.tensor(pa)[:, None], torch.tensor(pb)[None, :]] = 1.0
        contrasts = contrast_links(a.words, b.words)
        sa, sb = a.sentences(), b.sentences()
        # typed value pieces say nothing about whether two sentences are about one topic: out of coverage
        cover_a, cover_b = a.content.clone(), b.content.clone()
        for x in a.slots:
            cover_a[list(x.pieces)] = 0.0
        for x in b.slots:
            cover_b[list(x.pieces)] = 0.0
        novel_a, novel_b = a.novelty(), b.novelty()
        # the sentence each typed value sits in
        in_a, in_b = [int(sa[x.pieces[0]]) for x in a.slots], [int(sb[x.pieces[0]]) for x in b.slots]
        best = 0.0
        for i, j in (topic >= 1e-3).nonzero().tolist():
            rows, cols = sa == i, sb == j
            if not rows.any() or not cols.any():
                continue
            typed = compare_slots(
                [x for x, k in zip(a.slots, in_a, strict=True) if k == i],
                [x for x, k in zip(b.slots, in_b, strict=True) if k == j],
            )
            mm = match
            if typed.matched:
                mm = match.clone()
                for pa, pb in typed.matched:  # one value in other words: its pieces match
                    mm[torch.tensor(pa)[:, None], torch.tensor(pb)[None, :]] = 1.0
            m = mm[rows][:, cols]
            ma, mb = m.max(1).values, m.max(0).values
            covers = _cover(cover_a[rows], ma), _cover(cover_b[cols], mb)
            # Two typed values that disagree are the evidence themselves: coverage only has to show the
            # sentences are about one thing, and one sentence said within the other, plus a clause of its
            # own ("feature's 800 words, they cut the page"), shows that. Untyped novelty needs both ways:
            # there the unmatched words are the evidence, and an added clause is unmatched too.
            cover = max(covers) if typed.conflict else min(covers)
            coverage = torch.sigmoid((cover - self.coverage_gate) / s)
            if typed.conflict:
                c = 1.0
            elif typed.agreed and not _substitution(cover_a[rows], cover_b[cols], m, a.lexical):
                c = 0.0  # same value, so the same claim: what else differs is elaboration
            elif any(_unmet(pa, pb, mm, rows, cols) for pa, pb in contrasts):
                c = 1.0  # an untyped value of one kind on each side, neither met by the other ("open" / "closed")
            else:
                c = min(_one_way(novel_a[rows], ma)[1], _one_way(novel_b[cols], mb)[1])
            best = max(best, float(c * coverage * topic[i, j]))
        return best


Pieces = tuple[int, ...]


def _unmet(pa: Pieces, pb: Pieces, match: torch.Tensor, rows: torch.Tensor, cols: torch.Tensor) -> bool:
    """Whether a word of A (pieces `pa`) and one of B (`pb`) sit in the two sentences compared and neither
    is met by the other sentence: each says its own value."""
    if not all(bool(rows[p]) for p in pa) or not all(bool(cols[q]) for q in pb):
        return False
    return float(match[list(pa)][:, cols].max()) < 0.5 and float(match[rows][:, list(pb)].max()) < 0.5


SLOT = 3  # words of one filled slot ("a flint scraper", "the leisure centre")


def _words(pieces: list[int], lexical: bool) -> int:
    """How many words `pieces` (ascending indices) spell: a plain reading's pieces are words, a learned
    reading's adjacent pieces are one word ("raf" "##fle"; a compound counts once: the count is a floor)."""
    return len(pieces) if lexical else sum(1 for k, i in enumerate(pieces) if k == 0 or pieces[k - 1] != i - 1)


def _substitution(content_a: torch.Tensor, content_b: torch.Tensor, match: torch.Tensor, lexical: bool) -> bool:
    """Whether two sentences say one frame and each fills one slot of it with words of its own: A's
    unmatched content pieces (typed values left out of `content`) are one run of at most SLOT words, so
    are B's, at least two content words each side are matched, and each matched piece sits on the same
    side of the slot in both ("find in trench two was a flint scraper" / "... a bronze brooch"). Then a
    typed value the two agree on ("two") is part of what the claim is about, not its value, and does
    not make the claims one. An elaboration ("raffle's on Monday, bring your tickets" / "raffle's on
    Monday, the marquee is up") has one untyped word in common: too little frame."""
    ka, kb = (content_a > 0.5).nonzero().flatten().tolist(), (content_b > 0.5).nonzero().flatten().tolist()
    ma, mb = match.max(1).values, match.max(0).values
    gap_a, gap_b = [i for i in ka if ma[i] < 0.5], [j for j in kb if mb[j] < 0.5]
    if not gap_a or not gap_b or _words(gap_a, lexical) > SLOT or _words(gap_b, lexical) > SLOT:
        return False
    if ka.index(gap_a[-1]) - ka.index(gap_a[0]) + 1 != len(gap_a):
        return False  # A's own words are not one run
    if kb.index(gap_b[-1]) - kb.index(gap_b[0]) + 1 != len(gap_b):
        return False
    anchors = [i for i in ka if ma[i] >= 0.5]
    if _words(anchors, lexical) < 2 or _words([j for j in kb if mb[j] >= 0.5], lexical) < 2:
        return False
    return all((i < gap_a[0]) == (int(match[i].argmax()) < gap_b[0]) for i in anchors)


def _cover(content: torch.Tensor, match: torch.Tensor) -> float:
    """Content-weighted share matched; a sentence that is nothing but its value ("9:45") covers fully."""
    return _one_way(content, match)[0] if float(content.sum()) > 1e-6 else 1.0


def _one_way(content: torch.Tensor, match: torch.Tensor) -> tuple[float, float]:
    total = float(content.sum())
    if total <= 1e-6:
        return 0.0, 0.0
    return float((content * match).sum()) / total, float((content * (1.0 - match)).max())


def piece_match(a: Claim, b: Claim, power: float) -> torch.Tensor:
    """(len(a), len(b)) how much each piece of A spells the same word as each piece of B, in [0, 1]."""
    if a.lexical or b.lexical:
        return (a.ids[:, None] == b.ids[None, :]).float()
    table = static_pieces()
    return ((F.normalize(table[a.ids], dim=-1) @ F.normalize(table[b.ids], dim=-1).T).clamp(0, 1)) ** power


_ENDS: list[torch.Tensor] = []


def sentence_ends() -> torch.Tensor:
    """Word-piece ids that end a sentence in MiniLM's vocabulary ('.', '!', '?', ';')."""
    if not _ENDS:
        from sociallm.backbone.encoders import _minilm_model

        _ENDS.append(torch.tensor(_minilm_model().tokenizer.convert_tokens_to_ids([".", "!", "?", ";"])))
    return _ENDS[0]


def sentence_index(ids: torch.Tensor, ends: torch.Tensor, inside: torch.Tensor | None = None) -> torch.Tensor:
    """The sentence of each piece: a sentence ends with its end mark (which belongs to it); pieces marked
    `inside` never end one."""
    is_end = torch.isin(ids, ends)
    if inside is not None:
        is_end &= ~inside
    is_end = is_end.long()
    return torch.cumsum(is_end, 0) - is_end


def lexical_claim(topic: torch.Tensor, text: str, names: Iterable[str] = ()) -> Claim:
    surface = FUNCTION_WORDS | {n.lower() for n in names}
    kept = [(a, b, w) for a, b, w in word_spans(_WORD, text.lower()) if w not in surface]
    # crc32, not hash(): a checkpoint's ids must mean the same words in the process that resumes it
    ids = torch.tensor([zlib.crc32(w.encode()) for _, _, w in kept], dtype=torch.long)
    spans = [(a, b) for a, b, _ in kept]
    slots = tuple(slots_of(text, spans))  # typed values and synonyms hold for words too
    words = words_of(text, spans, names, {k for x in slots for k in x.pieces})
    return Claim(topic[None], ids, torch.ones(len(kept)), lexical=True, slots=slots, words=words)


_LOCK = threading.Lock()
_PIECES: dict[str, tuple[torch.Tensor, torch.Tensor]] = {}  # text -> (ids, contextual vectors), bounded
_OFFSETS: dict[str, list[tuple[int, int]]] = {}  # text -> character span of each piece, filled beside _PIECES


_TABLE: list[torch.Tensor] = []


def static_pieces() -> torch.Tensor:
    """MiniLM's input embedding table (word piece -> static vector), shared with the loaded model."""
    if not _TABLE:
        from sociallm.backbone.encoders import _minilm_model

        _TABLE.append(_minilm_model()[0].auto_model.embeddings.word_embeddings.weight.detach())
    return _TABLE[0]


def token_pieces(texts: list[str]) -> list[tuple[torch.Tensor, torch.Tensor]]:
    """(word-piece ids, contextual vectors) of each text, without [CLS]/[SEP]; one MiniLM pass per new text."""
    from sociallm.backbone.encoders import _minilm_model

    todo = sorted({t for t in texts if t not in _PIECES})
    if todo:
        model = _minilm_model()
        with _LOCK, torch.no_grad():
            out = model.encode(todo, output_value="token_embeddings", convert_to_numpy=False, batch_size=64)
            enc = model.tokenizer(todo, truncation=True, max_length=model.max_seq_length, return_offsets_mapping=True)
        if len(_PIECES) + len(todo) > 50_000:
            _PIECES.clear()
            _OFFSETS.clear()
        for text, i, spans, vecs in zip(todo, enc["input_ids"], enc["offset_mapping"], out, strict=True):
            # clone: each is a view of one padded batch, and would keep all of it alive
            _PIECES[text] = (torch.tensor(i[1:-1], dtype=torch.long), vecs[1 : len(i) - 1].float().cpu().clone())
            _OFFSETS[text] = [tuple(o) for o in spans[1:-1]]
    return [_PIECES[t] for t in texts]


def wants_pieces(encoder: Any) -> bool:
    """Whether `pieces_for` does any work for this encoder (callers skip the worker thread when not)."""
    from sociallm.backbone.encoders import MiniLMEncoder

    return isinstance(encoder, MiniLMEncoder)


def pieces_for(encoder: Any, texts: list[str]) -> list[tuple[torch.Tensor, torch.Tensor]] | None:
    """Word pieces where the encoder is MiniLM itself; None (the lexical fallback) otherwise."""
    return token_pieces(texts) if wants_pieces(encoder) else None


def train_roles(
    reader: ClaimReader, vecs: torch.Tensor, labels: torch.Tensor, epochs: int = 300, lr: float = 1e-2, seed: int = 0
) -> list[float]:
    """Fit the role read-out on labelled word pieces (tom_facts.role_examples): full-batch cross-entropy."""
    torch.manual_seed(seed)
    opt = torch.optim.AdamW(reader.role.parameters(), lr=lr, weight_decay=1e-3)
    losses = []
    reader.train()
    with torch.enable_grad():
        for _ in range(epochs):
            loss = F.cross_entropy(reader.role(vecs), labels)
            opt.zero_grad()
            loss.backward()
            opt.step()
            losses.append(float(loss.detach()))
    reader.eval()
    return losses


@dataclass
class _Said:
    key: str  # the message's id
    audience: frozenset[str]
    claim: Claim
    tick: int = 0


@dataclass
class _Speaker:
    said: list[_Said] = field(default_factory=list)
    top: list[float] = field(default_factory=list)  # largest conflicts so far, descending
    top_plain: list[float] = field(default_factory=list)  # the same on the claims' plain-word readings


class ClaimLedger:
    """Per speaker: its last `keep` messages' claims and its `top` largest cross-audience conflicts."""

    def __init__(self, reader: ClaimReader, keep: int = 64, top: int = 3) -> None:
        self.reader = reader
        self.keep = keep
        self.topn = top
        self.speakers: dict[str, _Speaker] = {}

    def add(self, speaker: str, key: str, audience: frozenset[str], claim: Claim, tick: int = 0) -> None:
        s = self.speakers.setdefault(speaker, _Speaker())
        window = int(self.reader.window)
        others = [r for r in s.said if r.audience != audience and abs(r.tick - tick) <= window]
        if others:
            c = [self.reader.conflict(claim, r.claim) for r in others]
            s.top = sorted([*s.top, *c], reverse=True)[: self.topn]
            if claim.plain is not None:
                c = [self.reader.conflict(claim.plain, r.claim.plain) for r in others if r.claim.plain is not None]
                s.top_plain = sorted([*s.top_plain, *c], reverse=True)[: self.topn]
        s.said.append(_Said(key, audience, claim, tick))
        if len(s.said) > self.keep:
            s.said.pop(0)

    def duplicity(self, speaker: str) -> float | None:
        """Mean of the speaker's largest conflicts between audiences, averaged over the two readings of its
        claims where both exist; None before two audiences heard it."""
        s = self.speakers.get(speaker)
        if s is None or not s.top:
            return None
        learned = sum(s.top) / len(s.top)
        return (learned + sum(s.top_plain) / len(s.top_plain)) / 2 if s.top_plain else learned

    def state(self, table: dict[str, Any] | None = None) -> dict[str, Any]:
        """With `table` (shared by the ledgers of one checkpoint): each claim goes into it once under its
        digest and the ledger names the digest (every observer's ledger holds the same message's claim)."""

        def said(r: _Said) -> list[Any]:
            blob, digest = r.claim.encoded()
            if table is None:
                return [r.key, sorted(r.audience), blob, r.tick]
            table.setdefault(digest, blob)
            return [r.key, sorted(r.audience), digest, r.tick]

        return {
            name: {"said": [said(r) for r in s.said], "top": list(s.top), "top_plain": list(s.top_plain)}
            for name, s in self.speakers.items()
        }

    def load_state(self, state: dict[str, Any], table: dict[str, Any] | None = None) -> None:
        """A ledger entry of an older format (topic and value vectors, before claims by word pieces) is
        dropped: its speaker keeps its top conflicts, and new messages are compared with new ones only."""
        decoded: dict[str, Claim] = {}

        def claim(ref: Any) -> Claim | None:
            if isinstance(ref, str):
                if ref not in decoded and ref in (table or {}):
                    decoded[ref] = Claim.decode((table or {})[ref])
                return decoded.get(ref)
            return Claim.decode(ref) if isinstance(ref, dict) and "ids" in ref else None

        self.speakers = {}
        for name, s in state.items():
            said = []
            for entry in s["said"]:
                c = claim(entry[2]) if len(entry) == 4 else None
                if c is not None:
                    said.append(_Said(entry[0], frozenset(entry[1]), c, int(entry[3])))
            plain = [float(x) for x in s.get("top_plain", ())]
            self.speakers[name] = _Speaker(said, [float(x) for x in s["top"]], plain)


def audience_of(speaker: str, observers: list[str]) -> frozenset[str]:
    return frozenset(o for o in observers if o != speaker)
