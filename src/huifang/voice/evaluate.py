"""Evaluating the voice agent's understanding on the corpus: in `text` mode the NLU alone reads
each reply as typed; in `audio` mode each reply is synthesized (TTS), recognized (ASR) and then
understood, and the word error rate (English) or character error rate (Chinese) is reported
beside the answer accuracy per category."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

import numpy as np
from rapidfuzz.distance import Levenshtein

from huifang.voice.asr import ASR
from huifang.voice.audio import Audio, noise, silence
from huifang.voice.corpus import TODAY, Reply
from huifang.voice.nlu import Expectation, Intent, Understanding, decide, understand_transcript
from huifang.voice.text import normalize
from huifang.voice.tts import TTS

# The recognizer's prompt per question type (used on yes/no questions and in free decoding,
# see `WhisperASR.transcribe`), in the evaluation and on calls (`sip.channel.hint_for`). The
# amounts are none of the corpus' own.
HINTS = {
    ("zh", "yes_no"): "是的。不是。对。没有。",
    ("zh", "money"): "两千三百元。",
    ("zh", "date"): "下个月十五号。明天。月底。",
    ("en", "yes_no"): "Yes. No. Agent.",
    ("en", "money"): "Two thousand three hundred yuan.",
    ("en", "date"): "Next Friday. Tomorrow.",
}


@dataclass
class Outcome:
    """One reply evaluated."""

    reply: Reply
    heard: str
    understood: Understanding
    correct: bool
    errors: int = 0  # edit distance, words (en) or characters (zh)
    reference_len: int = 0
    audio_s: float = 0.0
    processing_s: float = 0.0


@dataclass
class Report:
    """Accuracy by category, error rate and real-time factor for one language and mode."""

    language: str
    mode: str
    outcomes: list[Outcome] = field(default_factory=list)

    def accuracy(self) -> dict[str, float]:
        by: dict[str, list[bool]] = defaultdict(list)
        for o in self.outcomes:
            by[o.reply.category].append(o.correct)
        acc = {k: round(sum(v) / len(v), 3) for k, v in sorted(by.items())}
        acc["all"] = round(sum(o.correct for o in self.outcomes) / max(1, len(self.outcomes)), 3)
        return acc

    def error_rate(self) -> float:
        ref = sum(o.reference_len for o in self.outcomes)
        return round(sum(o.errors for o in self.outcomes) / ref, 3) if ref else 0.0

    def rtf(self) -> float:
        audio = sum(o.audio_s for o in self.outcomes)
        return round(sum(o.processing_s for o in self.outcomes) / audio, 3) if audio else 0.0

    def decisions(self) -> dict[str, dict[str, int]]:
        """What the confirm-if-low policy (`nlu.decide`, default thresholds) does with the
        replies that are answers (yes/no, amounts, dates, choices), right and wrong: a sound
        confidence accepts few wrong answers and re-prompts few right ones."""
        out: dict[str, dict[str, int]] = {}
        for o in self.outcomes:
            if o.reply.category in ("human", "silence", "noise"):
                continue
            row = out.setdefault(decide(o.understood).value, {"right": 0, "wrong": 0})
            row["right" if o.correct else "wrong"] += 1
        return dict(sorted(out.items()))

    def summary(self) -> dict[str, object]:
        return {
            "language": self.language,
            "mode": self.mode,
            "replies": len(self.outcomes),
            "accuracy": self.accuracy(),
            "decisions": self.decisions(),
            ("cer" if self.language == "zh" else "wer"): self.error_rate(),
            "rtf": self.rtf(),
        }


def _units(text: str, language: str) -> list[str]:
    t = normalize(text)
    return list(t.replace(" ", "")) if language == "zh" else t.split()


def is_correct(reply: Reply, u: Understanding) -> bool:
    """Whether the understanding is what the reply meant."""
    if reply.category == "human":
        return u.intent is Intent.HUMAN
    if reply.category in ("silence", "noise"):
        return u.intent in (Intent.SILENCE, Intent.NOISE)
    return u.intent is Intent.ANSWER and u.value == reply.expected


def _expect(reply: Reply) -> Expectation:
    return Expectation(reply.answer_type, TODAY, reply.choices)


def reply_audio(reply: Reply, tts: TTS) -> Audio:
    """The reply as a caller would sound: speech padded with silence, or silence, or noise."""
    if reply.category == "silence":
        return silence(2.0)
    if reply.category == "noise":
        return noise(2.0, seed=hash(reply.id) % 1000)
    spoken = tts.synthesize(reply.text, reply.language)
    pad = silence(0.3).samples
    return Audio(np.concatenate([pad, spoken.samples, pad]))


def evaluate(
    replies: Iterable[Reply],
    language: str,
    tts: TTS | None = None,
    asr: ASR | None = None,
    progress: Callable[[Outcome], None] | None = None,
) -> Report:
    """Evaluate `replies`: typed (no engines given) or synthesized and recognized."""
    mode = "audio" if asr is not None else "text"
    report = Report(language, mode)
    for reply in replies:
        if asr is None or tts is None:
            heard, conf, audio_s, proc_s = reply.text, 1.0, 0.0, 0.0
            alternatives: tuple[str, ...] = ()
            weights: tuple[float, ...] = ()
        else:
            options = [c.phrases[0 if language == "zh" else 1] for c in reply.choices]
            hint = HINTS.get((language, reply.answer_type), "")
            if reply.answer_type == "choice":
                hint = "。".join(options)
            t = asr.transcribe(
                reply_audio(reply, tts), language, hint, reply.answer_type, tuple(options)
            )
            heard, conf, audio_s, proc_s = t.text, t.confidence, t.audio_s, t.processing_s
            alternatives, weights = t.alternatives, t.weights
        u = understand_transcript([heard, *alternatives], _expect(reply), conf, weights or None)
        ref, hyp = _units(reply.text, language), _units(heard, language)
        outcome = Outcome(
            reply, heard, u, is_correct(reply, u), Levenshtein.distance(ref, hyp), len(ref),
            audio_s, proc_s,
        )  # fmt: skip
        report.outcomes.append(outcome)
        if progress:
            progress(outcome)
    return report
