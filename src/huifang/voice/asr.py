"""Speech recognition behind an interface. `WhisperASR` runs the offline Whisper-base model
(`model.whisper_base_dir`) in CTranslate2 (int8 on CPU) directly, shaped for short phone replies:

* **Only the reply is encoded.** Silero VAD (bundled with faster-whisper) finds the speech; the
  encoder sees the speech plus a little silence, not Whisper's fixed 30-second window, so a
  2-second reply costs a 2-second encoder pass (about 15× less work than faster-whisper's
  `transcribe`, which pads every utterance to 30 s).
* **The answer type narrows the vocabulary.** For a closed question (yes/no, money, number,
  date, choice) decoding may only use the tokens whose characters (Chinese) or words
  (English) occur in what such a reply can say — the NLU's own lexicons: polar words,
  numerals and units, date words, the options, and the words for a human, repeat or unsure —
  by CTranslate2's `suppress_tokens`. Beam
  search returns the n best readings (`Transcript.alternatives`) with each one's share of
  the n best (`Transcript.weights`); the caller keeps the first the NLU understands and
  takes its confidence from the share that agrees (`nlu.understand_transcript`). On yes/no
  questions and in free decoding the question's hint is the decoder's prompt. Free text is
  decoded greedily; English amounts by beam search without a word list.
* Whisper's repetition loops on short audio (一千五一千五, and 一万五一万 where the length cap
  cut one short) are collapsed, and traditional characters are converted to simplified
  (OpenCC).

* **Concurrent calls share batches.** One recognizer serves all the calls of a process (SIP
  channel, campaign dialer); `_Batcher` decodes the replies that wait together and can
  share a CTranslate2 `generate` call (same feature length, prompt and decoding options) as
  one batch, two batches at a time on a 2-core machine.

A lender plugs in a stronger model (Whisper small in CTranslate2 format, a Paraformer) or a
cloud ASR by implementing `ASR.transcribe`.
"""

from __future__ import annotations

import math
import re
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from huifang.voice.audio import RATE, Audio, speech_spans
from huifang.voice.text import normalize, to_simplified

PROMPTS = {
    "zh": "以下是普通话的句子。",
    "en": "",
}

LEAD_S = 0.3  # silence before the speech the encoder sees
TAIL_S = 1.0  # and after it (tells Whisper the reply has ended)


@dataclass(frozen=True, slots=True)
class Transcript:
    """What was recognized: text (simplified Chinese), a 0..1 confidence, the seconds of audio
    and of processing (for the real-time factor), and the other readings of the n best, best
    first (empty for free decoding)."""

    text: str
    confidence: float
    audio_s: float
    processing_s: float
    alternatives: tuple[str, ...] = ()
    # The share of the n best (beam hypotheses weighted by their probability, hypotheses that
    # read the same merged) of `text` and of each alternative, in that order; empty for one
    # reading. The NLU adds up the shares of readings that mean the same answer.
    weights: tuple[float, ...] = ()


class ASR(Protocol):
    def transcribe(
        self,
        audio: Audio,
        language: str = "zh",
        hint: str = "",
        answer_type: str = "",
        options: Sequence[str] = (),
    ) -> Transcript: ...


# Characters a reply of each answer type can contain, beyond the words for a human, repeat and
# unsure (always allowed: the dialogue must hear 转人工 on any question). The distress words
# are not: on espeak audio they made Whisper read 家庭自用 as 家庭住院 (a false handover);
# distress is heard on free-text questions and by the agent the call is handed to.
_ZH_NUMERALS = "零一二两三四五六七八九十百千万亿点半0123456789"
_ZH_MONEY = _ZH_NUMERALS + "元块钱毛角分大概约左右差不多还"
_ZH_DATE = _ZH_NUMERALS + "号日月底初中旬周星期礼拜天今明后下个这本大前后再过末"
_ZH_CHOICE = "第一二三四五个的是那这"
# The common ways of saying "I don't know"; the rarer hedges of intents._UNSURE_ZH (也许, 可能,
# 说不好) are left out: their characters (许, 可, 能) were what espeak's 是 and 转 turned into.
_ZH_UNSURE = ("不知道", "不清楚", "不确定", "不记得")


def _zh_intent_chars() -> str:
    from huifang.voice import intents

    words = [p for p, _, _ in intents._ZH_POLAR]
    for table in (intents._HUMAN_ZH, intents._REPEAT_ZH, _ZH_UNSURE):
        words += list(table)
    return "".join(words) + "我啊了呀吧"


def zh_alphabet(answer_type: str, options: Sequence[str] = ()) -> str:
    """The characters a Chinese reply to a question of `answer_type` may be decoded into
    ("" = unconstrained)."""
    base = _zh_intent_chars()
    if answer_type == "yes_no":
        return base
    if answer_type in ("money", "number"):
        return base + _ZH_MONEY
    if answer_type == "date":
        return base + _ZH_DATE
    if answer_type == "choice" and options:
        return base + _ZH_CHOICE + "".join(options)
    return ""


_EN_FUNCTION = (
    "i it is its a an the that this to me my please want would like talk speak get can you "
    "and or of on in at for with be are was will have has had did do does so well oh um"
)


def _en_intent_words() -> str:
    from huifang.voice import intents

    phrases = [p for p, _, _ in intents._EN_POLAR]
    for table in (intents._HUMAN_EN, intents._UNSURE_EN, intents._REPEAT_EN):
        phrases += list(table)
    return " ".join(phrases) + " " + _EN_FUNCTION + " that's don't didn't haven't isn't it's"


def en_words(answer_type: str, options: Sequence[str] = ()) -> str:
    """The words an English reply to a question of `answer_type` may be decoded into
    ("" = unconstrained)."""
    from huifang.voice import choices, dates, numbers

    base = _en_intent_words()
    numerals = " ".join([*numbers._EN_UNITS, *numbers._EN_SCALES, *"0123456789"])
    if answer_type == "yes_no":
        return base
    if answer_type in ("money", "number"):
        # Not constrained: in English Whisper writes amounts as digit groups, and within the
        # word list it looped on them over the phone line (8,500,000,000; 8,500 I 100).
        return ""
    if answer_type == "date":
        words = "today tomorrow day days after next week month end in on by st nd rd th thirtieth"
        return " ".join(
            [base, numerals, words, *dates._WEEKDAYS_EN, *dates._MONTHS_EN, *dates._ORDINAL_WORDS]
        )
    if answer_type == "choice" and options:
        return " ".join([base, *choices._ORDINALS_EN, "one", "option", *options])
    return ""


def collapse_repeats(text: str) -> str:
    """Whisper's loop on short audio: 一千五一千五 → 一千五, "yes yes yes" → "yes" (a
    whole-text repetition of a unit at least two characters long), and a loop the length cap
    cut short: 一万五一万 → 一万五, "Not at all. Not" → "Not at all." (a unit of at least three
    characters, then at least two characters of it again; 一万一 and 五千五 are not loops)."""
    t = text.strip()
    n = len(t)
    for period in range(2, n - 1):
        unit = t[:period]
        looped = n >= 2 * period or (period >= 3 and n - period >= 2)
        if looped and all(t[i] == unit[i % period] for i in range(n)):
            return unit.strip(" ,，。.")
    return t


class _Whisper:
    """The loaded model, its tokenizer and feature extractor, and the per-alphabet suppress
    lists (cached)."""

    def __init__(self, model_dir: Path, threads: int, workers: int) -> None:
        import ctranslate2
        import tokenizers
        from faster_whisper.feature_extractor import FeatureExtractor

        self.model = ctranslate2.models.Whisper(
            str(model_dir),
            device="cpu",
            compute_type="int8",
            intra_threads=threads,
            inter_threads=workers,
        )
        self.features = FeatureExtractor(80)
        self.hf = tokenizers.Tokenizer.from_file(str(model_dir / "tokenizer.json"))
        self.eot = self.hf.token_to_id("<|endoftext|>")
        self.sot = self.hf.token_to_id("<|startoftranscript|>")
        self.sot_prev = self.hf.token_to_id("<|startofprev|>")
        self.transcribe_id = self.hf.token_to_id("<|transcribe|>")
        self.no_timestamps = self.hf.token_to_id("<|notimestamps|>")
        self.vocab = [self.hf.decode([i]) for i in range(self.eot)]
        self._suppress: dict[str, list[int]] = {}
        self._lock = threading.Lock()

    def start(self, language: str, prompt: str = "") -> list[int]:
        ids = []
        if prompt:
            ids = [self.sot_prev, *self.hf.encode(" " + prompt, add_special_tokens=False).ids]
        lang = self.hf.token_to_id(f"<|{language}|>")
        return [*ids[-100:], self.sot, lang, self.transcribe_id, self.no_timestamps]

    def suppress(self, language: str, alphabet: str) -> list[int]:
        """The tokens decoding may not use: for Chinese every text token not made of
        `alphabet`'s characters (characters that take several byte tokens keep them); for
        English every token that is not a piece of one of the words in `alphabet` as Whisper
        writes them (lower case, capitalized, with a leading space, before a comma or stop).
        Every special token but the end of text is suppressed too."""
        key = language + ":" + alphabet
        with self._lock:
            if key in self._suppress:
                return self._suppress[key]
        keep: set[int] = set()
        if language == "zh":
            chars = set(alphabet)
            for i, piece in enumerate(self.vocab):
                s = piece.strip()
                if s == piece and "\ufffd" not in s and all(c in chars for c in s):
                    keep.add(i)
            for c in chars:
                ids = self.hf.encode(c, add_special_tokens=False).ids
                if len(ids) > 1:
                    keep.update(ids)
        else:
            if any(c.isdigit() for c in alphabet):  # Whisper writes amounts as 3,500
                keep.update(i for i, p in enumerate(self.vocab) if re.fullmatch(r" ?[0-9,.]+", p))
            for word in set(alphabet.split()):
                for form in (word, word.capitalize()):
                    for text in (form, " " + form, " " + form + ",", " " + form + "."):
                        keep.update(self.hf.encode(text, add_special_tokens=False).ids)
        n_vocab = self.hf.get_vocab_size()
        out = [i for i in range(self.eot) if i not in keep]
        out += list(range(self.eot + 1, n_vocab))
        with self._lock:
            self._suppress[key] = out
        return out

    def features_of(self, samples: np.ndarray, grid_s: float = 0.0) -> np.ndarray:
        """Log-mel features (80 × frames, an even number) of the speech with LEAD_S of silence
        before it and TAIL_S after it. With a `grid_s`, the tail is padded with silence up to
        a multiple of it: replies of nearly the same length then get features of one length
        and can share a batch, and a reply is encoded the same way whatever its batch."""
        lead, tail = int(LEAD_S * RATE), int(TAIL_S * RATE)
        n = lead + len(samples) + tail
        if grid_s > 0:
            grid = int(grid_s * RATE)
            n = -(-n // grid) * grid
        x = np.zeros(n, np.float32)
        x[lead : lead + len(samples)] = samples
        feats = self.features(x, padding=0)
        return np.ascontiguousarray(feats[:, : feats.shape[1] - feats.shape[1] % 2], np.float32)

    def decode(self, ids: Sequence[int]) -> str:
        return str(self.hf.decode([i for i in ids if i < self.eot])).strip()


@lru_cache(maxsize=4)
def _load(model_dir: Path, threads: int, workers: int) -> _Whisper:
    return _Whisper(model_dir, threads, workers)


@dataclass(eq=False)
class _Request:
    """One reply waiting to be recognized: its features and how to decode it. Requests with
    equal `key` (features of one length, the same start tokens and decoding options) can
    share one `generate` call."""

    features: np.ndarray
    prompt: list[int]
    options: dict[str, Any]
    key: tuple[Any, ...]
    arrived: float = field(default_factory=time.perf_counter)
    done: threading.Event = field(default_factory=threading.Event)
    result: Any = None
    error: BaseException | None = None


class _Batcher:
    """The batching front of the model, shared by the calls of one process (SIP channel,
    campaign dialer): a free worker takes the oldest waiting reply and every waiting reply
    that can share its batch, waiting up to `window_s` after the oldest arrived for more to
    join (at most `max_batch`) while other replies are on their way (a lone reply does not
    wait), and decodes them in one CTranslate2 `generate` call — one
    decoder pass for the batch instead of one per reply. `workers` batches run at once
    (the model's `inter_threads`). Workers end after `idle_s` without work and start again
    on the next reply."""

    def __init__(
        self, model: Any, workers: int, window_s: float, max_batch: int, idle_s: float = 30.0
    ) -> None:
        self.model = model
        self.workers = max(1, workers)
        self.window_s = window_s
        self.max_batch = max(1, max_batch)
        self.idle_s = idle_s
        self._waiting: list[_Request] = []
        self._gathering: set[tuple[Any, ...]] = set()
        self._running = 0
        self._arriving = 0  # replies on their way (VAD, features): worth waiting for
        self._cond = threading.Condition()
        self.batches: list[int] = []  # sizes of the batches decoded (for the bench)

    def arriving(self) -> None:
        """A reply is on its way: batches forming now wait (up to the window) for it."""
        with self._cond:
            self._arriving += 1

    def arrived(self) -> None:
        """A reply announced by `arriving` needs no recognition (nothing was said)."""
        with self._cond:
            self._arriving -= 1
            self._cond.notify_all()

    def run(self, request: _Request, announced: bool = False) -> Any:
        with self._cond:
            self._arriving -= announced
            self._waiting.append(request)
            if self._running < self.workers:
                self._running += 1
                threading.Thread(target=self._work, name="whisper-batch", daemon=True).start()
            self._cond.notify_all()
        request.done.wait()
        if request.error is not None:
            raise request.error
        return request.result

    def _take(self) -> list[_Request] | None:
        """The next batch (called with the lock held); None when idle for `idle_s`."""
        idle_since = time.perf_counter()
        while True:
            free = [r for r in self._waiting if r.key not in self._gathering]
            if not free:
                if time.perf_counter() - idle_since >= self.idle_s:
                    return None
                self._cond.wait(self.idle_s)
                continue
            key = free[0].key
            deadline = free[0].arrived + self.window_s
            self._gathering.add(key)
            while True:
                mates = [r for r in self._waiting if r.key == key][: self.max_batch]
                left = deadline - time.perf_counter()
                if len(mates) >= self.max_batch or left <= 0 or not self._arriving:
                    break
                self._cond.wait(left)
            self._gathering.discard(key)
            for r in mates:
                self._waiting.remove(r)
            return mates

    def _work(self) -> None:
        import ctranslate2

        while True:
            with self._cond:
                batch = self._take()
                if batch is None:
                    self._running -= 1
                    return
                self.batches.append(len(batch))
            try:
                feats = np.stack([r.features for r in batch])
                results = self.model.generate(
                    ctranslate2.StorageView.from_array(feats),
                    [r.prompt for r in batch],
                    **batch[0].options,
                )
                for r, result in zip(batch, results, strict=True):
                    r.result = result
            except BaseException as e:  # handed to the waiting calls, which raise it
                for r in batch:
                    r.error = e
            for r in batch:
                r.done.set()


class WhisperASR:
    """Whisper-base in CTranslate2 on CPU; one instance per process, thread-safe for concurrent
    calls: their replies go through one batching front (`_Batcher`), `workers` batches at a
    time with `threads` threads each. The default, two workers of one thread, is what a
    2-core machine running many calls needs (two replies decoded at once; one thread per
    small matrix product wastes less than two); a lone reply is faster with `threads=2,
    workers=1`. `batch_grid_s` > 0 pads each reply's audio up to a multiple of it so that
    replies of nearly one length share a batch; it is off by default because the extra
    silence changes some transcripts (docs/benchmarks.md)."""

    def __init__(
        self,
        model_dir: Path | None = None,
        threads: int = 1,
        workers: int = 2,
        beam_size: int = 5,
        batch_window_s: float = 0.03,
        max_batch: int = 8,
        batch_grid_s: float = 0.0,
    ) -> None:
        from huifang.voice.model import whisper_base_dir

        self.whisper = _load(Path(model_dir or whisper_base_dir()), threads, workers)
        self.threads, self.beam_size, self.batch_grid_s = threads, beam_size, batch_grid_s
        self.batcher = _Batcher(self.whisper.model, workers, batch_window_s, max_batch)

    def transcribe(
        self,
        audio: Audio,
        language: str = "zh",
        hint: str = "",
        answer_type: str = "",
        options: Sequence[str] = (),
    ) -> Transcript:
        """Recognize one reply. `answer_type` (yes_no, money, number, date, choice) and the
        choice `options` constrain the vocabulary; `hint` (words such replies use) is the
        decoder's prompt on yes/no questions and when decoding unconstrained.
        `processing_s` is the time from the call to the transcript, waiting for a batch
        included."""
        started = time.perf_counter()
        w = self.whisper
        alphabet = (
            zh_alphabet(answer_type, options)
            if language == "zh"
            else en_words(answer_type, options)
        )
        # The question's hint as the previous text biases the decoder towards such replies.
        # Measured on the corpus it helps yes/no (decoded in the word list) and English
        # amounts (decoded freely); Chinese amounts, dates and choices do without it.
        prompted = answer_type == "yes_no" or not alphabet
        self.batcher.arriving()
        try:
            spans = speech_spans(audio, min_silence_ms=500)
            if not spans:  # nothing said, and VAD is sure of it
                self.batcher.arrived()
                return Transcript("", 1.0, audio.seconds, time.perf_counter() - started)
            request = self._request(audio, spans, language, hint, answer_type, alphabet)
        except BaseException:
            self.batcher.arrived()
            raise
        result = self.batcher.run(request, announced=True)
        texts: list[str] = []
        mass: list[float] = []
        # Scores are length-normalized log-probabilities: exp(score) is the geometric mean of
        # a hypothesis' token probabilities, and the n best share them in proportion.
        probs = [math.exp(s) for s in result.scores] if result.scores else []
        total = sum(probs) or 1.0
        echo = normalize(hint) if hint and prompted else None
        probs = probs or [1.0] * len(result.sequences_ids)
        for ids, p in zip(result.sequences_ids, probs, strict=True):
            text = collapse_repeats(w.decode(ids))
            text = to_simplified(text) if language == "zh" else text
            if echo is not None and normalize(text) == echo:
                text = ""  # the decoder copied its prompt ("Two thousand three hundred yuan.")
            if text in texts:
                mass[texts.index(text)] += p / total
            else:
                texts.append(text)
                mass.append(p / total)
        confidence = max(0.0, min(1.0, probs[0])) if probs else 0.0
        return Transcript(
            texts[0] if texts else "",
            round(confidence, 3),
            audio.seconds,
            time.perf_counter() - started,
            tuple(texts[1:]),
            tuple(round(m, 4) for m in mass) if len(texts) > 1 else (),
        )

    def _request(
        self,
        audio: Audio,
        spans: list[tuple[float, float]],
        language: str,
        hint: str,
        answer_type: str,
        alphabet: str,
    ) -> _Request:
        """The reply's features (its speech only) and how to decode it."""
        w = self.whisper
        first, last = int(spans[0][0] * audio.rate), int(spans[-1][1] * audio.rate)
        speech = audio.samples[first:last].astype(np.float32)
        features = w.features_of(speech, self.batch_grid_s)
        prompted = answer_type == "yes_no" or not alphabet
        prompt = hint if alphabet else PROMPTS.get(language, "") + hint
        start = w.start(language, prompt.strip() if hint and prompted else "")
        # The start tokens (and prompt), then about 5 tokens a second of speech (a fast
        # speaker), + 1: the cap that stops Whisper's loops on short audio.
        max_length = len(start) + 1 + math.ceil(len(speech) / audio.rate * 5)
        opts: dict[str, Any] = {"max_length": max_length, "return_scores": True}
        if alphabet or answer_type in ("money", "number"):
            # Closed questions, and amounts in English (free: in the word list English amounts
            # looped on digit groups over the phone line), by beam search: its n best give the
            # answer its confidence (nlu.understand_transcript).
            opts |= {"beam_size": self.beam_size, "num_hypotheses": self.beam_size}
            opts["suppress_tokens"] = w.suppress(language, alphabet) if alphabet else [-1]
        else:
            opts |= {"beam_size": 1, "no_repeat_ngram_size": 3}
        # What must be equal for two replies to share a `generate` call.
        key = (features.shape[1], tuple(start), alphabet, opts["beam_size"], max_length)
        return _Request(features, start, opts, key)
