"""Voice agent benchmark: ASR real-time factor on CPU and concurrent real-time calls.

    .venv/bin/python bench/voice.py [--seconds 60] [--workers 2]

1. RTF: borrower replies synthesized by espeak-ng (Chinese and English, 1–4 s, as on a call)
   are recognized one at a time by faster-whisper (Whisper-base, int8, 2 threads); RTF =
   processing time / audio time (target ≤ 0.3).
2. Concurrency: `--workers` recognizer workers (CTranslate2 `num_workers`) fed from as many
   threads as calls for `--seconds`; capacity = audio seconds recognized per wall second. A
   call needs recognition only while the borrower speaks (the voice agent speaks the rest,
   and VAD drops silence): with the borrower's share of call time `--talk-share` (0.35), the
   calls sustained in real time = capacity / talk share, provided the p95 latency of a reply
   stays under `--max-latency` seconds (1.5 s). Target ≥ 10 on this 2-core machine.

The last line printed is one JSON object with the results.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import threading
import time

from huifang.voice.asr import WhisperASR
from huifang.voice.audio import Audio
from huifang.voice.tts import EspeakTTS

UTTERANCES = [
    ("zh", "是的，是我本人。"),
    ("zh", "下个月十五号还三千五百块。"),
    ("zh", "没有"),
    ("zh", "我要转人工"),
    ("en", "Yes, that's right."),
    ("en", "I will pay three thousand five hundred next Friday."),
    ("en", "Not really."),
    ("en", "I want to talk to a real person."),
]


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--seconds", type=float, default=60.0)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--calls", type=int, default=10)
    ap.add_argument("--talk-share", type=float, default=0.35)
    ap.add_argument("--max-latency", type=float, default=1.5)
    args = ap.parse_args()

    tts = EspeakTTS()
    clips: list[tuple[str, Audio]] = [(lang, tts.synthesize(t, lang)) for lang, t in UTTERANCES]

    single = WhisperASR(threads=2, workers=1)
    single.transcribe(clips[0][1], clips[0][0])  # warm up
    proc = audio = 0.0
    for lang, clip in clips:
        t = single.transcribe(clip, lang)
        proc += t.processing_s
        audio += t.audio_s
    rtf = proc / audio
    print(f"RTF (one at a time): {rtf:.3f}  over {audio:.1f} s of replies", flush=True)
    del single

    asr = WhisperASR(threads=max(1, (os.cpu_count() or 2) // args.workers), workers=args.workers)
    latencies: list[float] = []
    done_audio = [0.0]
    lock = threading.Lock()
    stop = time.perf_counter() + args.seconds

    def call(index: int) -> None:
        i = index
        while time.perf_counter() < stop:
            lang, clip = clips[i % len(clips)]
            t = asr.transcribe(clip, lang)
            with lock:
                latencies.append(t.processing_s)
                done_audio[0] += t.audio_s
            i += 1

    started = time.perf_counter()
    threads = [threading.Thread(target=call, args=(k,)) for k in range(args.calls)]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    wall = time.perf_counter() - started
    capacity = done_audio[0] / wall
    p95 = statistics.quantiles(latencies, n=20)[-1] if len(latencies) >= 2 else latencies[0]
    by_capacity = capacity / args.talk_share
    sustained = int(by_capacity) if p95 <= args.max_latency else 0
    print(
        f"{args.calls} concurrent callers: {len(latencies)} replies in {wall:.1f} s, "
        f"capacity {capacity:.2f} audio-s/s, p95 latency {p95:.2f} s",
        flush=True,
    )
    result = {
        "bench": "voice",
        "cpu_count": os.cpu_count(),
        "load_avg_1m": round(os.getloadavg()[0], 2),
        "asr": "faster-whisper 1.2.1 whisper-base int8",
        "rtf": round(rtf, 3),
        "rtf_target": 0.3,
        "replies": len(latencies),
        "capacity_audio_s_per_s": round(capacity, 3),
        "talk_share": args.talk_share,
        "p95_latency_s": round(p95, 3),
        "calls_by_capacity": round(by_capacity, 1),
        "concurrent_calls_sustained": sustained,
        "concurrent_calls_target": 10,
    }
    print(json.dumps(result))


if __name__ == "__main__":
    main()
