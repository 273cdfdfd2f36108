"""Intents in a reply: yes or no, a request for a human, distress, a request to repeat,
silence and noise.

Chinese answers a yes/no question by a polar word (是/对/不是/没有) or by echoing the verb of
the question (有 / 没有, 会 / 不会); English by yes/no words and their negations ("not really").
Phrases that contain a negation but mean yes (没错, 没问题, 不错) are matched before their
parts, longest first. Each match carries a confidence: a clear 是的 is surer than a bare 嗯.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from huifang.voice.text import compact, normalize

# (phrase, polarity, confidence); longest phrases win where they overlap.
_ZH_POLAR: tuple[tuple[str, bool, float], ...] = (
    ("没错", True, 0.95),
    ("没问题", True, 0.9),
    ("没毛病", True, 0.85),
    ("不错", True, 0.7),
    ("可不是", True, 0.8),
    ("那当然", True, 0.9),
    ("当然", True, 0.9),
    ("是的", True, 0.97),
    ("是啊", True, 0.95),
    ("是呀", True, 0.95),
    ("对的", True, 0.97),
    ("对啊", True, 0.95),
    ("对呀", True, 0.95),
    ("对", True, 0.93),
    ("是", True, 0.9),
    ("好的", True, 0.9),
    ("好", True, 0.8),
    ("可以", True, 0.85),
    ("行", True, 0.8),
    ("确认", True, 0.9),
    ("正确", True, 0.92),
    ("有的", True, 0.9),
    ("嗯嗯", True, 0.8),
    ("嗯", True, 0.75),
    ("恩", True, 0.7),
    ("不是", False, 0.97),
    ("不对", False, 0.95),
    ("没有", False, 0.93),
    ("没", False, 0.85),
    ("不用", False, 0.85),
    ("不要", False, 0.85),
    ("不需要", False, 0.9),
    ("不行", False, 0.85),
    ("不可以", False, 0.9),
    ("不会", False, 0.85),
    ("不能", False, 0.85),
    ("错了", False, 0.9),
    ("错的", False, 0.9),
    ("错", False, 0.8),  # 没错 and 不错 (yes) are longer and matched first
    ("否", False, 0.9),
    ("不", False, 0.8),
)

_EN_POLAR: tuple[tuple[str, bool, float], ...] = (
    ("no problem", True, 0.9),
    ("not bad", True, 0.6),
    ("thats right", True, 0.95),
    ("that is right", True, 0.95),
    ("of course", True, 0.9),
    ("uh huh", True, 0.75),
    ("yes", True, 0.97),
    ("yeah", True, 0.93),
    ("yep", True, 0.93),
    ("yup", True, 0.9),
    ("sure", True, 0.88),
    ("correct", True, 0.93),
    ("right", True, 0.8),
    ("ok", True, 0.75),
    ("okay", True, 0.75),
    ("absolutely", True, 0.93),
    ("i did", True, 0.85),
    ("i have", True, 0.8),
    ("i do", True, 0.8),
    ("not really", False, 0.9),
    ("i have not", False, 0.9),
    ("i did not", False, 0.9),
    ("i do not", False, 0.88),
    ("have not", False, 0.88),
    ("did not", False, 0.88),
    ("do not", False, 0.85),
    ("not at all", False, 0.95),
    ("i dont think so", False, 0.9),
    ("not yet", False, 0.9),
    ("incorrect", False, 0.93),
    ("wrong", False, 0.85),
    ("no", False, 0.95),
    ("nope", False, 0.95),
    ("nah", False, 0.85),
    ("never", False, 0.85),
    ("i didnt", False, 0.88),
    ("i havent", False, 0.88),
    ("i dont", False, 0.85),
    ("not", False, 0.7),
)

_UNSURE_ZH = (
    "不知道",
    "不清楚",
    "不确定",
    "说不好",
    "不好说",
    "不记得",
    "忘了",
    "可能",
    "也许",
    "大概吧",
)
_UNSURE_EN = ("not sure", "dont know", "maybe", "perhaps", "no idea", "dont remember")

_HUMAN_ZH = (
    "转人工",
    "人工服务",
    "人工客服",
    "人工",
    "找真人",
    "真人",
    "跟人说",
    "找客服",
    "转客服",
    "找你们经理",
    "找经理",
    "我要投诉",
    "投诉",
    "不想跟机器",
    "机器人吗",
)
_HUMAN_EN = (
    "human",
    "real person",
    "agent",
    "operator",
    "representative",
    "speak to someone",
    "talk to someone",
    "customer service",
    "complaint",
)

_DISTRESS_ZH = (
    "不想活",
    "活不下去",
    "自杀",
    "跳楼",
    "轻生",
    "逼死",
    "走投无路",
    "崩溃",
    "住院",
    "重病",
    "去世",
    "过世",
    "出车祸",
    "救命",
)
_DISTRESS_EN = (
    "kill myself",
    "suicide",
    "end my life",
    "cant go on",
    "in hospital",
    "in the hospital",
    "passed away",
    "died",
    "desperate",
    "help me",
)

_REPEAT_ZH = (
    "再说一遍",
    "再说一次",
    "没听清",
    "没听懂",
    "听不清",
    "什么意思",
    "重复一下",
    "你说什么",
)
_REPEAT_EN = ("say that again", "repeat", "pardon", "didnt catch", "what did you say", "sorry what")

# What Whisper writes for silence or noise (hallucinated subtitles) and filler sounds.
_NOISE = (
    "以下是普通话的句子",  # the ASR prompt echoed back
    "谢谢观看",
    "字幕",
    "订阅",
    "点赞",
    "thank you for watching",
    "thanks for watching",
    "subscribe",
    "music",
    "applause",
)
_FILLERS = re.compile(
    r"^(啊|呃|额|哦|噢|喂|嗨|那个|这个|就是|um+|uh+|er+|hmm+|ah+|oh|hello|hi| )*$"
)


@dataclass(frozen=True, slots=True)
class Polarity:
    """A yes/no reading of a reply: the value (None when unsure) and its confidence."""

    value: bool | None
    confidence: float


def _contains_any(text: str, phrases: tuple[str, ...], english: bool) -> str | None:
    for p in phrases:
        if english:
            if re.search(rf"(?<![a-z]){re.escape(p)}(?![a-z])", text):
                return p
        elif p in text:
            return p
    return None


def wants_human(text: str) -> bool:
    """Whether the reply asks for a human agent (转人工; PIPL art. 24 lets a person refuse a
    decision made solely by automation)."""
    return bool(
        _contains_any(compact(text), _HUMAN_ZH, False)
        or _contains_any(normalize(text), _HUMAN_EN, True)
    )


def distress(text: str) -> str | None:
    """The distress phrase in the reply (health, bereavement, despair), or None. A call in
    distress is handed to a human at once."""
    return _contains_any(compact(text), _DISTRESS_ZH, False) or _contains_any(
        normalize(text), _DISTRESS_EN, True
    )


def wants_repeat(text: str) -> bool:
    """Whether the borrower asks to hear the question again."""
    return bool(
        _contains_any(compact(text), _REPEAT_ZH, False)
        or _contains_any(normalize(text), _REPEAT_EN, True)
    )


def is_silence(text: str) -> bool:
    """Nothing said: empty, filler sounds only."""
    return bool(_FILLERS.match(normalize(text)))


def is_noise(text: str) -> bool:
    """A transcript that is an ASR artefact of noise (hallucinated subtitles, [music])."""
    t = normalize(text)
    return bool(_contains_any(t, _NOISE, False)) or (bool(re.fullmatch(r"[\W_ ]*", t)) and bool(t))


def _scan(
    text: str, table: tuple[tuple[str, bool, float], ...], english: bool
) -> list[tuple[int, bool, float]]:
    """Non-overlapping polar phrases in `text`, longest first, as (position, value, conf)."""
    taken = [False] * len(text)
    found: list[tuple[int, bool, float]] = []
    for phrase, value, conf in sorted(table, key=lambda row: -len(row[0])):
        pattern = rf"(?<![a-z]){re.escape(phrase)}(?![a-z])" if english else re.escape(phrase)
        for m in re.finditer(pattern, text):
            if any(taken[m.start() : m.end()]):
                continue
            for i in range(m.start(), m.end()):
                taken[i] = True
            found.append((m.start(), value, conf))
    return sorted(found)


def yes_no(text: str, question: str = "") -> Polarity:
    """Read a reply to a yes/no question. `question` lets an echo of its verb count
    (有 → yes, 没有 → no). Mixed signals ("不是, 是的") give the first with low confidence."""
    zh, en = compact(text), normalize(text)
    if _contains_any(zh, _UNSURE_ZH, False) or _contains_any(en, _UNSURE_EN, True):
        return Polarity(None, 0.0)
    found = _scan(zh.replace(" ", ""), _ZH_POLAR, False) if zh else []
    found += _scan(en, _EN_POLAR, True)
    if not found:
        echo = _echo(zh, compact(question)) if question else None
        return echo or Polarity(None, 0.0)
    values = {v for _, v, _ in found}
    first = found[0]
    if len(values) > 1:
        return Polarity(first[1], min(0.5, first[2]))
    # Longer replies that only contain a polar word somewhere are less certain.
    extra = len(zh.replace(" ", "")) - 6 if zh and not en.isascii() else 0
    penalty = 0.02 * max(0, extra)
    return Polarity(first[1], max(0.4, max(c for _, _, c in found) - penalty))


def _echo(reply: str, question: str) -> Polarity | None:
    core = re.sub(r"[了的啊呀吧过呢]+$", "", reply.replace(" ", ""))
    if not core or len(core) > 4:
        return None
    negated = re.match(r"^(没有|没|不|未)(.+)$", core)
    if negated and negated.group(2) and negated.group(2)[0] in question:
        return Polarity(False, 0.8)
    if core[0] in question and core not in ("吗", "呢"):
        return Polarity(True, 0.75)
    return None
