"""CTC decoding in numpy: best path, and best path restricted to character-class patterns.

The plate reader emits, for each of its two text rows, a sequence of frames with a probability for
each character and for the CTC blank. A pattern is a string over ``D`` (digit), ``L`` (letter) and
``X`` (either), e.g. ``DDLDDDDD`` for ``51F06532``. :func:`pattern_scores` finds, for every prefix in
a set of patterns at once (a trie), the log-probability of the best frame alignment that reads a
string of that shape; :func:`decode_pattern` returns the string itself. Both are Viterbi (max over
alignments), the same approximation as greedy best-path decoding, so their scores compare.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

#: Output classes of the reader after the blank (class 0): the normalised plate alphabet.
CHARSET = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ"
BLANK = 0
NUM_CLASSES = len(CHARSET) + 1

FloatArray = npt.NDArray[np.float32]
_NEG = np.float32(-1e9)


def class_mask(kind: str, letters: str = CHARSET[10:]) -> npt.NDArray[np.bool_]:
    """Which classes (blank excluded, index 0 = '0') a pattern symbol allows."""
    mask = np.zeros(len(CHARSET), np.bool_)
    if kind in ("D", "X"):
        mask[:10] = True
    if kind in ("L", "X"):
        for ch in letters:
            mask[CHARSET.index(ch)] = True
    if kind not in ("D", "L", "X"):
        raise ValueError(f"pattern symbol {kind!r} is not D, L or X")
    return mask


@dataclass(frozen=True)
class Reading:
    """One decoded row or plate: text over CHARSET, a confidence per character, and a log score."""

    text: str
    char_confidences: tuple[float, ...]
    log_score: float


def _confidences(probs: FloatArray, labels: list[int], frames: list[list[int]]) -> tuple[float, ...]:
    return tuple(float(probs[f, lab + 1].max()) for lab, f in zip(labels, frames, strict=True))


def greedy(probs: FloatArray) -> Reading:
    """Best-path decoding of one row: argmax per frame, merge repeats, drop blanks.

    `probs` is (T, NUM_CLASSES), each frame summing to 1. The score is the log-probability of the
    best alignment; a character's confidence is its highest probability over the frames it spans.
    """
    best = probs.argmax(axis=1)
    top = probs.max(axis=1)  # each frame's best probability (that of its best class)
    score = float(np.log(np.maximum(top, 1e-30)).sum())
    # a character's frames are those whose best class it is: its confidence is their best probability
    labels: list[int] = []
    confidences: list[float] = []
    prev = BLANK
    for cls, p in zip(best.tolist(), top.tolist(), strict=True):
        if cls != BLANK:
            if cls == prev:
                confidences[-1] = max(confidences[-1], p)
            else:
                labels.append(cls - 1)
                confidences.append(p)
        prev = cls
    text = "".join(CHARSET[i] for i in labels)
    return Reading(text, tuple(confidences), score)


@dataclass
class PatternTrie:
    """A set of patterns stored as a trie: node 0 is the empty prefix, each other node adds one symbol."""

    parents: list[int]
    masks: list[npt.NDArray[np.bool_]]
    index: dict[str, int]

    @classmethod
    def build(cls, patterns: Iterable[str], letters: str = CHARSET[10:]) -> PatternTrie:
        parents = [-1]
        masks = [np.zeros(len(CHARSET), np.bool_)]
        index = {"": 0}
        for pattern in sorted(set(patterns)):
            for end in range(1, len(pattern) + 1):
                prefix = pattern[:end]
                if prefix not in index:
                    index[prefix] = len(parents)
                    parents.append(index[pattern[: end - 1]])
                    masks.append(class_mask(pattern[end - 1], letters))
        return cls(parents, masks, index)


@dataclass
class TrieAlignment:
    """Result of :func:`align_trie`: the best score per prefix and what is needed to trace paths back."""

    trie: PatternTrie
    scores: dict[str, float]
    blank_final: FloatArray
    char_final: FloatArray
    source_blank: npt.NDArray[np.int8]  # (T, n): 0 stayed in the blank, 1 came from the node's character
    class_blank: npt.NDArray[np.int64]  # (T, n): that character
    source_char: npt.NDArray[np.int8]  # (T, n, 36): 0 stayed, 1 from the parent's blank, 2 from its char
    class_char: npt.NDArray[np.int64]  # (T, n, 36): the parent's character in case 2


def align_trie(log_probs: FloatArray, trie: PatternTrie) -> TrieAlignment:
    """Best alignment log-probability of one row for every prefix in `trie` (Viterbi over a trie).

    States per node: "in the blank after this prefix" and "emitting the prefix's last character c".
    A character may follow the parent's blank, or the parent's character if it differs (CTC merges
    repeats, so equal neighbours need a blank between them).
    """
    n, width = len(trie.parents), len(CHARSET)
    frames_n = log_probs.shape[0]
    parents = np.asarray(trie.parents[1:], np.int64)
    blocked = ~np.stack(trie.masks)
    blocked[0] = True
    cols = np.arange(width)[None, :]
    blank_state = np.full(n, _NEG, np.float32)
    blank_state[0] = 0.0
    char_state = np.full((n, width), _NEG, np.float32)
    source_blank = np.zeros((frames_n, n), np.int8)
    class_blank = np.zeros((frames_n, n), np.int64)
    source_char = np.zeros((frames_n, n, width), np.int8)
    class_char = np.zeros((frames_n, n, width), np.int64)
    for t in range(frames_n):
        frame = log_probs[t]
        # entering character c of node k: from the parent's blank, or from its best other character
        parent_chars = char_state[parents]
        first = parent_chars.argmax(axis=1)[:, None]
        masked = parent_chars.copy()
        np.put_along_axis(masked, first, _NEG, axis=1)
        second = masked.argmax(axis=1)[:, None]
        other_cls = np.where(cols == first, second, first)
        other = np.take_along_axis(parent_chars, other_cls, axis=1)
        from_blank = np.broadcast_to(blank_state[parents][:, None], other.shape)
        enter = np.maximum(other, from_blank)
        stay = char_state[1:]
        src = np.where(stay >= enter, 0, np.where(other > from_blank, 2, 1)).astype(np.int8)
        new_chars = np.full_like(char_state, _NEG)
        new_chars[1:] = np.maximum(stay, enter) + frame[None, 1:]
        new_chars[blocked] = _NEG
        source_char[t, 1:] = src
        class_char[t, 1:] = other_cls
        best_cls = char_state.argmax(axis=1)
        best_char = char_state.max(axis=1)
        source_blank[t] = (best_char > blank_state).astype(np.int8)
        class_blank[t] = best_cls
        new_blank = np.maximum(blank_state, best_char) + frame[BLANK]
        char_state, blank_state = new_chars, new_blank
    final = np.maximum(blank_state, char_state.max(axis=1))
    scores = {prefix: float(final[node]) for prefix, node in trie.index.items()}
    return TrieAlignment(
        trie, scores, blank_state, char_state, source_blank, class_blank, source_char, class_char
    )


def best_scores(log_probs: FloatArray, tries: Sequence[PatternTrie]) -> list[dict[str, float]]:
    """:func:`align_trie` scores only, for one trie per row of `log_probs` (rows, T, classes), all
    rows in one pass: the decoder's hot path, so no trace-back is kept."""
    parents: list[int] = []
    masks: list[npt.NDArray[np.bool_]] = []
    rows: list[int] = []
    offsets: list[int] = []
    for row, trie in enumerate(tries):
        offset = len(parents)
        offsets.append(offset)
        parents += [p + offset if p >= 0 else -1 for p in trie.parents]
        masks += trie.masks
        rows += [row] * len(trie.parents)
    n, width = len(parents), len(CHARSET)
    parent = np.asarray(parents, np.int64)
    child = np.flatnonzero(parent >= 0)
    parent_of = parent[child]
    allowed = np.stack(masks)[child]
    row_of = np.asarray(rows, np.int64)
    # per-frame log-probabilities of each node's row, characters and blank apart
    chars_lp = log_probs[row_of[child]][:, :, 1:]  # (children, T, 36)
    blank_lp = log_probs[row_of][:, :, BLANK]  # (n, T)
    chars_lp = np.where(allowed[:, None, :], chars_lp, _NEG)
    blank_state = np.where(parent < 0, np.float32(0.0), _NEG).astype(np.float32)
    char_state = np.full((n, width), _NEG, np.float32)
    rows_idx = np.arange(len(child))
    for t in range(log_probs.shape[1]):
        parent_chars = char_state[parent_of]
        first = parent_chars.argmax(axis=1)
        best = parent_chars[rows_idx, first]
        parent_chars[rows_idx, first] = _NEG
        second = parent_chars.max(axis=1)
        other = np.repeat(best[:, None], width, axis=1)
        other[rows_idx, first] = second
        enter = np.maximum(other, blank_state[parent_of][:, None])
        new_chars = char_state.copy()
        new_chars[child] = np.maximum(char_state[child], enter) + chars_lp[:, t]
        blank_state = np.maximum(blank_state, char_state.max(axis=1)) + blank_lp[:, t]
        char_state = new_chars
        char_state[parent < 0] = _NEG
    final = np.maximum(blank_state, char_state.max(axis=1))
    return [
        {prefix: float(final[node + offset]) for prefix, node in trie.index.items()}
        for trie, offset in zip(tries, offsets, strict=True)
    ]


def trace(alignment: TrieAlignment, prefix: str, probs: FloatArray) -> Reading:
    """The best string of shape `prefix` found by :func:`align_trie`, with per-character confidences."""
    trie = alignment.trie
    node = trie.index[prefix]
    in_char = bool(alignment.char_final[node].max() > alignment.blank_final[node])
    cls = int(alignment.char_final[node].argmax())
    score = float(max(alignment.char_final[node].max(), alignment.blank_final[node]))
    depth = len(prefix)
    labels = [0] * depth
    frames: list[list[int]] = [[] for _ in range(depth)]
    for t in range(alignment.source_blank.shape[0] - 1, -1, -1):
        if in_char:
            labels[depth - 1] = cls
            frames[depth - 1].append(t)
            src = int(alignment.source_char[t, node, cls])
            if src == 1:
                in_char, node, depth = False, trie.parents[node], depth - 1
            elif src == 2:
                cls = int(alignment.class_char[t, node, cls])
                node, depth = trie.parents[node], depth - 1
        elif alignment.source_blank[t, node]:
            in_char, cls = True, int(alignment.class_blank[t, node])
    text = "".join(CHARSET[i] for i in labels)
    return Reading(text, _confidences(probs, labels, [f[::-1] for f in frames]), score)


def decode_pattern(probs: FloatArray, pattern: str, letters: str = CHARSET[10:]) -> Reading:
    """The best string of shape `pattern` on one row (probabilities in, as the model gives them)."""
    log_probs = np.log(np.maximum(probs, 1e-30)).astype(np.float32)
    trie = PatternTrie.build([pattern], letters)
    return trace(align_trie(log_probs, trie), pattern, probs)


def edit_distance(a: str, b: str) -> int:
    """Levenshtein distance between two strings."""
    prev = list(range(len(b) + 1))
    for i, ca in enumerate(a, 1):
        cur = [i]
        for j, cb in enumerate(b, 1):
            cur.append(min(prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + (ca != cb)))
        prev = cur
    return prev[-1]
