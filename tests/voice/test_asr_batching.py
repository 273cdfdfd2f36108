"""The ASR's batching front: replies of concurrent calls that can share a batch are decoded in
one `generate` call, others are not mixed in, a failure reaches every waiting call, and a
reply is recognized the same whether it is batched or alone."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import numpy as np
import pytest

from huifang.voice import asr as asr_module
from huifang.voice.asr import WhisperASR, _Batcher, _Request
from huifang.voice.model import whisper_base_dir
from huifang.voice.tts import EspeakTTS


class _Model:
    """Stands in for CTranslate2's Whisper: records each batch; the first call waits until
    released, so that the replies sent meanwhile queue up behind it."""

    def __init__(self, fail: bool = False) -> None:
        self.calls: list[list[list[int]]] = []
        self.release = threading.Event()
        self.fail = fail

    def generate(self, features: Any, prompts: list[list[int]], **options: Any) -> list[Any]:
        self.calls.append(prompts)
        if len(self.calls) == 1:
            self.release.wait(10)
        if self.fail:
            raise RuntimeError("decoder failed")
        return [("result", p[0], options["beam_size"]) for p in prompts]


def _request(tag: int, key: str, frames: int = 100) -> _Request:
    feats = np.zeros((80, frames), np.float32)
    return _Request(feats, [tag], {"beam_size": 3}, (frames, key))


def _submit_while_busy(batcher: _Batcher, model: _Model, requests: list[_Request]) -> list[Any]:
    """The first request occupies the worker; the rest queue; then the worker is released."""
    with ThreadPoolExecutor(len(requests)) as pool:
        first = pool.submit(batcher.run, requests[0])
        while not model.calls:
            threading.Event().wait(0.01)
        rest = [pool.submit(batcher.run, r) for r in requests[1:]]
        while len(batcher._waiting) < len(requests) - 1:
            threading.Event().wait(0.01)
        model.release.set()
        return [f.result(10) for f in [first, *rest]]


def test_waiting_replies_with_one_key_share_a_generate_call() -> None:
    model = _Model()
    batcher = _Batcher(model, workers=1, window_s=0.0, max_batch=8)
    reqs = [_request(0, "zh-yes_no"), *(_request(i, "zh-yes_no") for i in (1, 2, 3))]
    reqs.append(_request(4, "en-yes_no"))
    reqs.append(_request(5, "zh-yes_no", frames=150))  # longer audio: a batch of its own
    results = _submit_while_busy(batcher, model, reqs)
    assert [r[1] for r in results] == [0, 1, 2, 3, 4, 5]  # each call gets its own result
    batches = sorted(sorted(p[0] for p in prompts) for prompts in model.calls)
    assert batches == [[0], [1, 2, 3], [4], [5]]


def test_a_batch_is_capped_at_max_batch() -> None:
    model = _Model()
    batcher = _Batcher(model, workers=1, window_s=0.0, max_batch=2)
    reqs = [_request(i, "zh-money") for i in range(5)]
    _submit_while_busy(batcher, model, reqs)
    assert sorted(len(p) for p in model.calls) == [1, 2, 2]


def test_a_failed_batch_raises_in_every_waiting_call() -> None:
    model = _Model(fail=True)
    batcher = _Batcher(model, workers=1, window_s=0.0, max_batch=8)
    with ThreadPoolExecutor(3) as pool:
        futures = [pool.submit(batcher.run, _request(i, "zh")) for i in range(3)]
        model.release.set()
        for f in futures:
            with pytest.raises(RuntimeError, match="decoder failed"):
                f.result(10)


def test_idle_workers_end_and_start_again() -> None:
    model = _Model()
    model.release.set()
    batcher = _Batcher(model, workers=2, window_s=0.0, max_batch=8, idle_s=0.05)
    assert batcher.run(_request(1, "zh"))[1] == 1
    deadline = threading.Event()
    while batcher._running and not deadline.wait(0.02):
        pass
    assert batcher._running == 0
    assert batcher.run(_request(2, "zh"))[1] == 2


@pytest.fixture(scope="module")
def whisper(tmp_path_factory: pytest.TempPathFactory) -> WhisperASR:
    return WhisperASR(whisper_base_dir(tmp_path_factory.mktemp("whisper")), batch_grid_s=0.5)


def test_a_reply_is_heard_the_same_batched_or_alone(whisper: WhisperASR) -> None:
    """Three calls answer the same yes/no question at once (padded to one feature length by
    the grid, one batch) and a fourth a money question: each transcript is the one it gets
    alone."""
    tts = EspeakTTS()
    said = [("是的", "yes_no"), ("不是", "yes_no"), ("对的", "yes_no"), ("三千五", "money")]
    clips = [(tts.synthesize(text, "zh"), kind) for text, kind in said]
    whisper.batcher.window_s = 0.0
    alone = [whisper.transcribe(clip, "zh", "", kind) for clip, kind in clips]
    before = len(whisper.batcher.batches)
    whisper.batcher.window_s = 2.0  # generous, so that the three gather on a busy machine
    with ThreadPoolExecutor(len(clips)) as pool:
        together = list(pool.map(lambda c: whisper.transcribe(c[0], "zh", "", c[1]), clips))
    assert [t.text for t in together] == [t.text for t in alone]
    assert [t.alternatives for t in together] == [t.alternatives for t in alone]
    assert max(whisper.batcher.batches[before:]) >= 2  # the yes/no replies shared a batch


def test_features_are_padded_to_the_grid(whisper: WhisperASR) -> None:
    w = whisper.whisper
    grid = int(0.5 * asr_module.RATE)
    pad = int(asr_module.LEAD_S * asr_module.RATE) + int(asr_module.TAIL_S * asr_module.RATE)
    in_one_cell = [6 * grid - pad - d for d in (100, grid // 2, grid - 100)]
    lengths = {w.features_of(np.zeros(n, np.float32), 0.5).shape[1] for n in in_one_cell}
    assert lengths == {6 * grid // 160}  # 100 feature frames a second
    # without a grid: the speech with its lead and tail, to an even number of frames
    exact = {w.features_of(np.zeros(n, np.float32)).shape[1] for n in in_one_cell}
    assert exact == {(n + pad) // 160 // 2 * 2 for n in in_one_cell}
    assert len(exact) == 3
