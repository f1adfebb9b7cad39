"""Training a LoRA adapter for the embedded Gemma 3 270M (docs/adapter.md).

The adapter teaches the base model to answer the bare prompt `Request: <request>\\nApp: ` with the
compact app document, so the gateway can drop the few-shot block. Training runs on the host's CPU in
PyTorch over the image's own GGUF, dequantized; the result is a GGUF LoRA that llama.cpp loads.

    data.py      training pairs from the example library, plus paraphrased requests
    paraphrase.py  the deterministic paraphrase rules
    weights.py   the base GGUF read and dequantized, with its Gemma 3 configuration
    model.py     a hand-written Gemma 3 forward over those tensors
    lora.py      the low-rank adapters on the attention projections
    tokens.py    the GGUF's own tokenizer (through llama.cpp), so tokens match run time
    train.py     the training loop
    export.py    the GGUF LoRA and its manifest, written atomically
    probe.py     generation with the adapter, and whether the documents check
    cli.py       `llmos model train-adapter` and `llmos model probe-adapter`

torch and gguf come from the `train` extra; nothing here is imported by the running OS.
"""

import os

# OpenMP threads that spin while they wait for each other turn a busy shared machine's 2 cores into
# a crawl: measured here, a forward of 180 tokens took 0.6 s on one thread and 5-20 s on two while
# QEMU ran beside it, and 0.7 s on two with passive waiting. Read once, when torch loads OpenMP.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
