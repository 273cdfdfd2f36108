"""Voice agent benchmark: ASR real-time factor on CPU and concurrent real-time calls.

    .venv/bin/python bench/voice.py [--seconds 40] [--calls 10,15,20]
        [--threads T --workers W --beam B --batch-window-ms MS]   (default: WhisperASR's own)

1. RTF: borrower replies synthesized by espeak-ng (Chinese and English, 0.7–4 s, as on a
   call, each with the answer type of its question) are recognized one at a time by
   `WhisperASR` (Whisper-base int8 in CTranslate2, only the reply encoded, answer-type
   vocabulary); RTF = processing time / audio time (target ≤ 0.3), also per reply length.
2. Concurrency: N simulated calls share one recognizer. Each call alternates the agent
   speaking (the reply's length × (1 − talk share) / talk share; talk share 0.35: the
   borrower talks about a third of a follow-up call) and the borrower's reply, which is
   recognized while the call waits. N calls are sustained in real time when the p95 latency
   from the end of a reply to its transcript stays under `--max-latency` (1.5 s: the pause
   before the agent answers). N runs up the `--calls` list and stops at the first that fails.
   Target ≥ 10 on this 2-core machine. The calls are threads that share one `WhisperASR`,
   as the SIP channel's calls of a campaign do (each call's dialogue runs in its own thread
   and calls `transcribe`), so their replies go through the same batching front; the
   latency is the wall time of `transcribe`, waiting for a batch included.

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

UTTERANCES = [  # language, what the borrower says, the question's answer type
    ("zh", "是的，是我本人。", "yes_no"),
    ("zh", "下个月十五号还三千五百块。", ""),
    ("zh", "没有", "yes_no"),
    ("zh", "三千五", "money"),
    ("zh", "我要转人工", "yes_no"),
    ("en", "Yes, that's right.", "yes_no"),
    ("en", "I will pay three thousand five hundred next Friday.", ""),
    ("en", "Not really.", "yes_no"),
    ("en", "four thousand eight hundred", "money"),
    ("en", "I want to talk to a real person.", "yes_no"),
]


def trial(
    asr: WhisperASR, clips: list[tuple[str, str, Audio]], calls: int, seconds: float, share: float
) -> tuple[list[float], float]:
    """`calls` simulated calls for `seconds`: reply latencies and audio-seconds recognized."""
    latencies: list[float] = []
    done = [0.0]
    lock = threading.Lock()
    stop = time.perf_counter() + seconds

    def call(index: int) -> None:
        i = index
        # stagger the calls over one turn so that they do not all start together
        time.sleep((index / calls) * clips[0][2].seconds / share)
        while time.perf_counter() < stop:
            lang, kind, clip = clips[i % len(clips)]
            time.sleep(clip.seconds * (1 - share) / share)  # the agent speaks
            began = time.perf_counter()
            t = asr.transcribe(clip, lang, "", kind)
            latency = time.perf_counter() - began
            with lock:
                latencies.append(latency)
                done[0] += t.audio_s
            i += 1

    threads = [threading.Thread(target=call, args=(k,)) for k in range(calls)]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    return latencies, done[0]


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--seconds", type=float, default=40.0)
    ap.add_argument("--calls", default="10,15,20")
    ap.add_argument("--threads", type=int, help="CTranslate2 intra_threads per batch")
    ap.add_argument("--workers", type=int, help="batches decoded at once (inter_threads)")
    ap.add_argument("--beam", type=int, help="beam size on closed questions")
    ap.add_argument("--batch-window-ms", type=float, help="how long a reply waits for mates")
    ap.add_argument("--talk-share", type=float, default=0.35)
    ap.add_argument("--max-latency", type=float, default=1.5)
    args = ap.parse_args()

    tts = EspeakTTS()
    clips = [(lang, kind, tts.synthesize(text, lang)) for lang, text, kind in UTTERANCES]
    settings = {
        name: value
        for name, value in (
            ("threads", args.threads),
            ("workers", args.workers),
            ("beam_size", args.beam),
            (
                "batch_window_s",
                None if args.batch_window_ms is None else args.batch_window_ms / 1000,
            ),
        )
        if value is not None
    }
    asr = WhisperASR(**settings)
    b = asr.batcher
    asr.transcribe(clips[0][2], clips[0][0], "", clips[0][1])  # warm up
    proc = audio = 0.0
    cpu_started = time.process_time()
    by_length: dict[str, list[float]] = {"<1.5 s": [], "1.5–3 s": [], ">3 s": []}
    for lang, kind, clip in clips:
        t = asr.transcribe(clip, lang, "", kind)
        proc += t.processing_s
        audio += t.audio_s
        bucket = "<1.5 s" if clip.seconds < 1.5 else "1.5–3 s" if clip.seconds <= 3 else ">3 s"
        by_length[bucket].append(t.processing_s / t.audio_s)
        print(
            f"{clip.seconds:5.2f} s  RTF {t.processing_s / t.audio_s:.3f}  {t.text!r}", flush=True
        )
    rtf = proc / audio
    cpu_rtf = (time.process_time() - cpu_started) / audio
    rtf_by_length = {k: round(statistics.mean(v), 3) for k, v in by_length.items() if v}
    print(
        f"RTF (one at a time): {rtf:.3f} over {audio:.1f} s (CPU-s per audio-s {cpu_rtf:.3f});"
        f" by length {rtf_by_length}"
    )

    sustained = 0
    trials = []
    for calls in [int(c) for c in args.calls.split(",")]:
        started, cpu_started = time.perf_counter(), time.process_time()
        batches_before = len(b.batches)
        latencies, done = trial(asr, clips, calls, args.seconds, args.talk_share)
        wall = time.perf_counter() - started
        cpu = time.process_time() - cpu_started
        batches = b.batches[batches_before:]
        p95 = statistics.quantiles(latencies, n=20)[-1] if len(latencies) >= 2 else latencies[0]
        ok = p95 <= args.max_latency
        trials.append(
            {
                "calls": calls,
                "replies": len(latencies),
                "p50_latency_s": round(statistics.median(latencies), 3),
                "p95_latency_s": round(p95, 3),
                "audio_s_per_s": round(done / wall, 3),
                "cpu_s_per_audio_s": round(cpu / done, 3) if done else None,
                "mean_batch": round(statistics.mean(batches), 2) if batches else 0,
                "max_batch": max(batches, default=0),
                "load_avg_1m": round(os.getloadavg()[0], 2),
                "real_time": ok,
            }
        )
        print(trials[-1], flush=True)
        if not ok:
            break
        sustained = calls
    result = {
        "bench": "voice",
        "cpu_count": os.cpu_count(),
        "load_avg_1m": round(os.getloadavg()[0], 2),
        "asr": "ctranslate2 whisper-base int8, reply-length encoder, answer-type vocabulary",
        "settings": {
            "threads": asr.threads,
            "workers": b.workers,
            "beam": asr.beam_size,
            "batch_window_ms": round(b.window_s * 1000, 1),
            "max_batch": b.max_batch,
        },
        "rtf": round(rtf, 3),
        "rtf_by_length": rtf_by_length,
        # processor time per second of audio, whatever else the machine runs: the cores
        # divided by (this × talk share) is the number of calls the machine can carry at most
        "cpu_rtf": round(cpu_rtf, 3),
        "rtf_target": 0.3,
        "talk_share": args.talk_share,
        "max_latency_s": args.max_latency,
        "trials": trials,
        "concurrent_calls_sustained": sustained,
        "concurrent_calls_target": 10,
    }
    print(json.dumps(result, ensure_ascii=False))


if __name__ == "__main__":
    main()
