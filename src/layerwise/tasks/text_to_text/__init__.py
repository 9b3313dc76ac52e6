"""The text-to-text application: a sequence-to-sequence model trained on sentence pairs."""
