"""The voice agent (智能外呼): understanding replies, speech engines and the dialogue.

`nlu` turns a borrower's reply (typed, or an ASR transcript) into a typed answer with a
confidence; `tts` and `asr` are the offline speech engines behind small interfaces; `dialogue`
drives a follow-up script turn by turn.
"""
