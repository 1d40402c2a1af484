"""Report text: a byte-level BPE tokenizer trained on the report corpus, and a small transformer text encoder."""
