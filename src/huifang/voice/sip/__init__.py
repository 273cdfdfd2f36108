"""Telephony: a SIP user agent (G.711 over RTP, RFC 4733 DTMF) for the voice agent; see
docs/telephony.md."""

from huifang.voice.sip.agent import Call, CallFailed, SipAgent
from huifang.voice.sip.media import AudioSink, AudioSource, Recorder, pcm_source

__all__ = ["AudioSink", "AudioSource", "Call", "CallFailed", "Recorder", "SipAgent", "pcm_source"]
